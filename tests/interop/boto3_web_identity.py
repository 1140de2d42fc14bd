"""Independent client: botocore's AssumeRoleWithWebIdentity provider reading AWS_WEB_IDENTITY_TOKEN_FILE
(written by `iamjwt agent`), with AWS_ROLE_ARN and AWS_ENDPOINT_URL_STS from the environment.

usage: boto3_web_identity.py
Prints the caller identity ARN seen through the assumed-role credentials, then waits for the token file to change
and does it again with a new session (botocore re-reads the file on every credential fetch); prints both ARNs and
the two token file contents it observed, as JSON. A call during which the agent replaced the file is repeated: which
of the two tokens botocore sent would be unknown.
"""
import json
import os
import sys
import time

import boto3


def identity() -> str:
    s = boto3.session.Session(region_name="us-east-1")
    return s.client("sts").get_caller_identity()["Arn"]


def identity_with(path: str) -> "tuple[str, str]":
    """The caller identity and the file's token it was fetched with (the file unchanged across the call)."""
    for _ in range(5):
        before = open(path).read()
        arn = identity()
        if open(path).read() == before:
            return before, arn
    raise SystemExit("the token file changed during every one of 5 calls")


def main() -> int:
    path = os.environ["AWS_WEB_IDENTITY_TOKEN_FILE"]
    first_token, first = identity_with(path)
    deadline = time.time() + 60
    while open(path).read() == first_token:
        if time.time() > deadline:
            print("the token file did not change within 60 s", file=sys.stderr)
            return 1
        time.sleep(0.2)
    second_token, second = identity_with(path)
    print(json.dumps({"arns": [first, second], "tokens": [first_token, second_token]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Independent SigV4 client: a GET signed by botocore's SigV4Auth (header form, service execute-api).

usage: botocore_get.py REGION URL   (credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN)
Prints the response body; exits 0 whatever the status (the caller asserts on the body).

Used where awscurl cannot be: awscurl re-encodes an `=` inside a query value (`tag=job%3D42`) differently from
what it signs, so API Gateway and our gateway both refuse its request; botocore signs what it sends.
"""
import os
import sys
import urllib.error
import urllib.request

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def main() -> int:
    region, url = sys.argv[1], sys.argv[2]
    creds = Credentials(
        os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"], os.environ.get("AWS_SESSION_TOKEN")
    )
    req = AWSRequest(method="GET", url=url)
    SigV4Auth(creds, "execute-api", region).add_auth(req)
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=dict(req.headers)), timeout=10) as r:
            print(r.read().decode())
    except urllib.error.HTTPError as e:
        print(e.read().decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())

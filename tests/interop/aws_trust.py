"""Applies `iamjwt trust aws --output json` with boto3 (an independent AWS client) against moto, then exchanges an
iamjwt token for credentials and calls GetCallerIdentity with them.

usage: aws_trust.py ENDPOINT TRUST_JSON_FILE ROLE_NAME TOKEN
Prints {"provider_arn", "client_ids", "role_arn", "assumed_role_arn", "caller_arn", "caller_account"} as JSON.
"""
import json
import sys

import boto3


def main() -> int:
    endpoint, trust_file, role_name, token = sys.argv[1:5]
    with open(trust_file) as f:
        trust = json.load(f)
    common = dict(endpoint_url=endpoint, region_name="us-east-1")
    admin = dict(aws_access_key_id="testing", aws_secret_access_key="testing", **common)
    iam = boto3.client("iam", **admin)
    provider_arn = iam.create_open_id_connect_provider(**trust["oidc_provider"])["OpenIDConnectProviderArn"]
    provider = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=provider_arn)
    role = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust["trust_policy"]))["Role"]

    # AssumeRoleWithWebIdentity is unsigned: the token is the credential.
    sts = boto3.client("sts", **admin)
    creds = sts.assume_role_with_web_identity(
        RoleArn=role["Arn"], RoleSessionName="iamjwt-e2e", WebIdentityToken=token
    )
    c = creds["Credentials"]
    me = boto3.client(
        "sts",
        aws_access_key_id=c["AccessKeyId"],
        aws_secret_access_key=c["SecretAccessKey"],
        aws_session_token=c["SessionToken"],
        **common,
    ).get_caller_identity()
    print(json.dumps({
        "provider_arn": provider_arn,
        "client_ids": provider["ClientIDList"],
        "role_arn": role["Arn"],
        "assumed_role_arn": creds["AssumedRoleUser"]["Arn"],
        "caller_arn": me["Arn"],
        "caller_account": me["Account"],
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Independent client for the Identity Center stand-ins (identity_center_standins.py): boto3's own `sso-oidc`,
`sts`, `s3control` and `s3` clients, so the stand-ins are proven to speak the wire format the AWS SDKs speak.

usage: identity_center_boto3.py STANDINS_JSON CASES_JSON
STANDINS_JSON: the stand-ins' ready line (URLs); CASES_JSON: {"application_arn", "role_arn", "account", "region",
"access_key_id", "secret_access_key", "session_token", "target", "permission", "object": "s3://b/k",
"good": TOKEN, "bad": {"name": TOKEN, …}}.

Runs the whole chain with the good token (CreateTokenWithIAM → AssumeRole with ProvidedContexts → GetDataAccess →
GetObject with the vended credentials), then exchanges the same good token again (a replay) and every bad token, and
prints one JSON object: what each step returned and, for each refusal, botocore's error code and message.
"""
import base64
import json
import os
import sys

import boto3
import botocore.config
import botocore.exceptions

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CONTEXT_PROVIDER = "arn:aws:iam::aws:contextProvider/IdentityCenter"


def claims(jwt: str) -> dict:
    seg = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4)))


def refusal(call) -> dict:
    try:
        call()
    except botocore.exceptions.ClientError as e:
        err = e.response["Error"]
        return {"code": err.get("Code"), "message": err.get("Message") or e.response.get("error_description")}
    return {"code": None}


def main() -> int:
    urls, case = json.loads(sys.argv[1]), json.loads(sys.argv[2])
    # The S3 Control host carries the account id in front of the endpoint's (123456789012.127.0.0.1): it exists only
    # behind the forward proxy, which NO_PROXY=127.0.0.1 would otherwise bypass (urllib matches it as a suffix).
    for k in ("NO_PROXY", "no_proxy"):
        os.environ.pop(k, None)
    workload = boto3.session.Session(
        aws_access_key_id=case["access_key_id"],
        aws_secret_access_key=case["secret_access_key"],
        aws_session_token=case["session_token"],
        region_name=case["region"],
    )
    oidc = workload.client("sso-oidc", endpoint_url=urls["oidc"])
    sts = workload.client("sts", endpoint_url=urls["sts"])
    out: dict = {}

    def exchange(token: str) -> dict:
        return oidc.create_token_with_iam(clientId=case["application_arn"], grantType=JWT_BEARER, assertion=token)

    answer = exchange(case["good"])
    context = answer["awsAdditionalDetails"]["identityContext"]
    out["exchange"] = {
        "identity_context": context,
        "id_token_claims": claims(answer["idToken"]),
        "token_type": answer["tokenType"],
    }
    session = sts.assume_role(
        RoleArn=case["role_arn"],
        RoleSessionName="boto3",
        ProvidedContexts=[{"ProviderArn": CONTEXT_PROVIDER, "ContextAssertion": context}],
    )["Credentials"]
    out["session_access_key_id"] = session["AccessKeyId"]
    enhanced = boto3.session.Session(
        aws_access_key_id=session["AccessKeyId"],
        aws_secret_access_key=session["SecretAccessKey"],
        aws_session_token=session["SessionToken"],
        region_name=case["region"],
    )
    s3control = enhanced.client(
        "s3control",
        endpoint_url=urls["s3control"],
        config=botocore.config.Config(proxies={"http": urls["s3control"]}),
    )
    access = s3control.get_data_access(
        AccountId=case["account"], Target=case["target"], Permission=case["permission"], DurationSeconds=900
    )
    out["data_access"] = {
        "access_key_id": access["Credentials"]["AccessKeyId"],
        "matched_grant_target": access["MatchedGrantTarget"],
        "grantee": access["Grantee"],
    }
    vended = boto3.session.Session(
        aws_access_key_id=access["Credentials"]["AccessKeyId"],
        aws_secret_access_key=access["Credentials"]["SecretAccessKey"],
        aws_session_token=access["Credentials"]["SessionToken"],
        region_name=case["region"],
    )
    bucket, key = case["object"][len("s3://") :].split("/", 1)
    out["object"] = vended.client("s3", endpoint_url=urls["s3"]).get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    out["session_get_object"] = refusal(
        lambda: enhanced.client("s3", endpoint_url=urls["s3"]).get_object(Bucket=bucket, Key=key)
    )
    out["no_grant"] = refusal(
        lambda: s3control.get_data_access(AccountId=case["account"], Target=f"s3://{bucket}/nowhere/*", Permission="READ")
    )
    out["workload_get_data_access"] = refusal(
        lambda: workload.client(
            "s3control",
            endpoint_url=urls["s3control"],
            config=botocore.config.Config(proxies={"http": urls["s3control"]}),
        ).get_data_access(AccountId=case["account"], Target=case["target"], Permission=case["permission"])
    )
    out["wrong_provider"] = refusal(
        lambda: sts.assume_role(
            RoleArn=case["role_arn"],
            RoleSessionName="boto3",
            ProvidedContexts=[{"ProviderArn": "arn:aws:iam::aws:contextProvider/Other", "ContextAssertion": context}],
        )
    )
    out["refusals"] = {"replay": refusal(lambda: exchange(case["good"]))}
    for name, token in case["bad"].items():
        out["refusals"][name] = refusal(lambda t=token: exchange(t))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

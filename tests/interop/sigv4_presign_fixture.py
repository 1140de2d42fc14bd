"""What botocore signs for fixed credentials and a fixed time: the fixture `sigv4_presign_fixture.json`.

usage: sigv4_presign_fixture.py > tests/interop/sigv4_presign_fixture.json

For service `execute-api`, each case's URL is presigned with botocore's `SigV4QueryAuth`, signed in header form with
`SigV4Auth`, and presigned the S3 way with `S3SigV4QueryAuth` (payload `UNSIGNED-PAYLOAD`, to be refused). The AWS
CRT signers (`CrtSigV4QueryAuth`, `CrtSigV4Auth`) must produce the same signatures or this script fails. The unit
test `sigv4::tests::sign_get_matches_botocore` compares `sign_get` and the verifier with the committed file and,
when IAMJWT_VENV is set, runs this script and compares its output with the file too.
Deterministic: the same output on every run.
"""
import datetime
import json
import sys
from urllib.parse import parse_qsl, urlsplit

import botocore.auth
import botocore.crt.auth
from botocore.auth import S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.utils import percent_encode_sequence

ACCESS_KEY_ID = "ASIAEXAMPLE000000001"
SECRET_ACCESS_KEY = "secretsecretsecretsecret"
SESSION_TOKEN = "tok+en/=="
REGION = "eu-west-1"
SERVICE = "execute-api"
# 2026-11-23T18:15:00Z
UNIX_TIME = 1_795_457_700
EXPIRES = 300
BASE = "http://127.0.0.1:8080/token"
CASES = [
    ("no query", []),
    (
        "repeated aud, duration, alg",
        [("aud", "sts.amazonaws.com"), ("aud", "api://ci"), ("duration", "900"), ("alg", "ES256")],
    ),
    ("characters to encode", [("aud", "https://x.example.com/a b~c"), ("duration", "60")]),
    # Not a signing parameter for botocore: signed as an ordinary one, and the payload is still the empty body's hash.
    ("X-Amz-Content-Sha256 as a parameter", [("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")]),
]

NOW = datetime.datetime.fromtimestamp(UNIX_TIME, tz=datetime.timezone.utc)


def fixed_now(remove_tzinfo=True):
    return NOW.replace(tzinfo=None) if remove_tzinfo else NOW


botocore.auth.get_current_datetime = fixed_now
botocore.crt.auth.get_current_datetime = fixed_now


def params_of(pairs):
    """botocore takes repeated query keys only as list values of `params` (it collapses them in the URL)."""
    out = {}
    for k, v in pairs:
        out.setdefault(k, []).append(v)
    return out


def presign(cls, creds, pairs):
    req = AWSRequest(method="GET", url=BASE, params=params_of(pairs))
    cls(creds, SERVICE, REGION, expires=EXPIRES).add_auth(req)
    return req.url


def authorization(cls, creds, url):
    req = AWSRequest(method="GET", url=url)
    cls(creds, SERVICE, REGION).add_auth(req)
    return req.headers["Authorization"]


def signature_of(url):
    return dict(parse_qsl(urlsplit(url).query))["X-Amz-Signature"]


def main() -> int:
    creds = Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY, SESSION_TOKEN)
    cases = []
    for name, pairs in CASES:
        url = BASE + (f"?{percent_encode_sequence(pairs)}" if pairs else "")
        presigned = presign(SigV4QueryAuth, creds, pairs)
        crt = presign(botocore.crt.auth.CrtSigV4QueryAuth, creds, pairs)
        auth = authorization(SigV4Auth, creds, url)
        crt_auth = authorization(botocore.crt.auth.CrtSigV4Auth, creds, url)
        if signature_of(presigned) != signature_of(crt):
            print(f"{name}: botocore and CRT presign differently:\n{presigned}\n{crt}", file=sys.stderr)
            return 1
        if auth.split("Signature=")[1] != crt_auth.split("Signature=")[1]:
            print(f"{name}: botocore and CRT sign headers differently:\n{auth}\n{crt_auth}", file=sys.stderr)
            return 1
        cases.append(
            {
                "name": name,
                "url": url,
                "presigned_url": presigned,
                "presigned_signature": signature_of(presigned),
                "authorization": auth,
                # The S3 convention (payload `UNSIGNED-PAYLOAD`), which execute-api does not follow: refused.
                "s3_style_presigned_url": presign(S3SigV4QueryAuth, creds, pairs),
            }
        )
    fixture = {
        "access_key_id": ACCESS_KEY_ID,
        "secret_access_key": SECRET_ACCESS_KEY,
        "session_token": SESSION_TOKEN,
        "region": REGION,
        "service": SERVICE,
        "unix_time": UNIX_TIME,
        "expires": EXPIRES,
        "cases": cases,
    }
    print(json.dumps(fixture, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

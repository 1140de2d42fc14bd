"""Independent SigV4 clients against `iamjwt serve`: botocore's own signers (pure Python) and the AWS CRT signers
that botocore uses when awscrt is installed.

usage: sigv4_clients.py URL REGION
Credentials come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN (the dev principal that
`serve` prints). The server must allow the audience `api://ci` for that principal besides the default
`sts.amazonaws.com`.

Checks, for service `execute-api`:
  presigned  `SigV4QueryAuth` and `CrtSigV4QueryAuth` URLs for `GET /token` with no parameters and with repeated
             `aud`, `duration` and `alg`, fetched with urllib: 200 and a JWT carrying what was asked for;
  header     `SigV4Auth` and `CrtSigV4Auth` with the session token: 200 and a JWT;
  refused    a presigned URL with one query value changed, with one signature digit changed, and one made the S3
             way (`S3SigV4QueryAuth`, payload `UNSIGNED-PAYLOAD`): 403 with a JSON `access_denied` body.
Prints one JSON report on stdout; exits 1 after listing every failed check on stderr.
"""
import base64
import json
import os
import sys
import urllib.error
import urllib.request
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from botocore.auth import S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.crt.auth import CrtSigV4Auth, CrtSigV4QueryAuth

SERVICE = "execute-api"
EXPIRES = 300
# (query pairs, expected alg or None for the default, expected audiences, expected lifetime or None)
CASES = [
    ([], None, ["sts.amazonaws.com"], None),
    (
        [("aud", "sts.amazonaws.com"), ("aud", "api://ci"), ("duration", "600"), ("alg", "ES256")],
        "ES256",
        ["sts.amazonaws.com", "api://ci"],
        600,
    ),
]


def params_of(pairs):
    """botocore takes repeated query keys only as list values of `params` (it collapses them in the URL)."""
    out = {}
    for k, v in pairs:
        out.setdefault(k, []).append(v)
    return out


def fetch(url, headers=None):
    req = urllib.request.Request(url, headers=headers or {}, method="GET")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def claims(token):
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError(f"not a compact JWS: {token[:40]!r}")
    dec = [json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))) for p in parts[:2]]
    return dec[0], dec[1]


def presign(signer_cls, creds, region, base, pairs):
    req = AWSRequest(method="GET", url=f"{base}/token", params=params_of(pairs))
    signer_cls(creds, SERVICE, region, expires=EXPIRES).add_auth(req)
    return req.url


def header_signed(signer_cls, creds, region, base, pairs):
    url = f"{base}/token" + (f"?{urlencode(pairs)}" if pairs else "")
    req = AWSRequest(method="GET", url=url)
    signer_cls(creds, SERVICE, region).add_auth(req)
    return url, {k: v for k, v in req.headers.items()}


def main() -> int:
    base, region = sys.argv[1].rstrip("/"), sys.argv[2]
    creds = Credentials(
        os.environ["AWS_ACCESS_KEY_ID"],
        os.environ["AWS_SECRET_ACCESS_KEY"],
        os.environ.get("AWS_SESSION_TOKEN"),
    )
    failures, report = [], []

    def expect_token(name, status, body, alg, auds, lifetime):
        entry = {"check": name, "status": status}
        report.append(entry)
        if status != 200:
            failures.append(f"{name}: status {status}: {body[:300]}")
            return
        try:
            header, payload = claims(json.loads(body)["token"])
        except (ValueError, KeyError) as e:
            failures.append(f"{name}: no JWT in {body!r}: {e}")
            return
        got_aud = payload["aud"] if isinstance(payload["aud"], list) else [payload["aud"]]
        entry.update(alg=header["alg"], aud=got_aud, lifetime=payload["exp"] - payload["iat"])
        if alg is not None and header["alg"] != alg:
            failures.append(f"{name}: alg {header['alg']} != {alg}")
        if sorted(got_aud) != sorted(auds):
            failures.append(f"{name}: aud {got_aud} != {auds}")
        if lifetime is not None and payload["exp"] - payload["iat"] != lifetime:
            failures.append(f"{name}: lifetime {payload['exp'] - payload['iat']} != {lifetime}")

    def expect_denied(name, url):
        status, body = fetch(url)
        entry = {"check": name, "status": status}
        report.append(entry)
        try:
            error = json.loads(body)
        except ValueError:
            failures.append(f"{name}: status {status}, body is not JSON: {body!r}")
            return
        entry["error"] = {k: error.get(k) for k in ("error", "error_description")}
        if status != 403 or error.get("error") != "access_denied":
            failures.append(f"{name}: want 403 access_denied, got {status} {body[:200]}")

    for signer in (SigV4QueryAuth, CrtSigV4QueryAuth):
        for pairs, alg, auds, lifetime in CASES:
            url = presign(signer, creds, region, base, pairs)
            name = f"presigned {signer.__name__} {urlencode(pairs) or '(no query)'}"
            expect_token(name, *fetch(url), alg, auds, lifetime)

    for signer in (SigV4Auth, CrtSigV4Auth):
        for pairs, alg, auds, lifetime in CASES:
            url, headers = header_signed(signer, creds, region, base, pairs)
            if creds.token and headers.get("X-Amz-Security-Token") != creds.token:
                failures.append(f"{signer.__name__}: the session token was not sent")
            name = f"header {signer.__name__} {urlencode(pairs) or '(no query)'}"
            expect_token(name, *fetch(url, headers), alg, auds, lifetime)

    # Refused: one signed query value changed; one signature digit changed; S3's UNSIGNED-PAYLOAD convention.
    pairs = CASES[1][0]
    good = presign(SigV4QueryAuth, creds, region, base, pairs)
    p = urlsplit(good)
    changed = [(k, "601" if k == "duration" else v) for k, v in parse_qsl(p.query, keep_blank_values=True)]
    expect_denied("tampered: duration 600 -> 601", urlunsplit(p._replace(query=urlencode(changed))))
    flipped = [
        (k, v[:-1] + ("0" if v[-1] != "0" else "1") if k == "X-Amz-Signature" else v)
        for k, v in parse_qsl(p.query, keep_blank_values=True)
    ]
    expect_denied("tampered: signature", urlunsplit(p._replace(query=urlencode(flipped))))
    expect_denied("S3SigV4QueryAuth (UNSIGNED-PAYLOAD)", presign(S3SigV4QueryAuth, creds, region, base, pairs))

    print(json.dumps({"checks": report, "failures": failures}))
    for f in failures:
        print(f"FAIL {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

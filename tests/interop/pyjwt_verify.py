"""Independent verifier: PyJWT with PyJWKClient, reading jwks_uri from the issuer's discovery document.

usage: pyjwt_verify.py ISSUER AUDIENCE TOKEN
Prints the verified claims as JSON; exits non-zero (with the reason on stderr) if verification fails.
"""
import json
import sys
import urllib.request

import jwt


def decode(token, key, issuer, audience):
    """The checks every PyJWT interop test makes: signature by `key`, `iss`, `aud`, the required claims, time."""
    return jwt.decode(
        token,
        key,
        algorithms=["RS256", "ES256", "ES384"],
        audience=audience,
        issuer=issuer,
        options={"require": ["exp", "iat", "nbf", "iss", "sub", "aud", "jti"]},
    )


def main() -> int:
    issuer, audience, token = sys.argv[1], sys.argv[2], sys.argv[3]
    with urllib.request.urlopen(f"{issuer}/.well-known/openid-configuration", timeout=10) as r:
        discovery = json.load(r)
    if discovery["issuer"] != issuer:
        print(f"discovery issuer {discovery['issuer']!r} != {issuer!r}", file=sys.stderr)
        return 1
    client = jwt.PyJWKClient(discovery["jwks_uri"], cache_keys=False)
    key = client.get_signing_key_from_jwt(token)
    try:
        claims = decode(token, key.key, issuer, audience)
    except jwt.PyJWTError as e:
        print(f"rejected: {e}", file=sys.stderr)
        return 1
    header = jwt.get_unverified_header(token)
    print(json.dumps({"header": header, "claims": claims}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

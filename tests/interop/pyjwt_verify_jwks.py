"""Independent verifier for tokens whose JWKS is at hand (an emulator's bucket, not a web server): PyJWT.

usage: pyjwt_verify_jwks.py ISSUER AUDIENCE JWKS_FILE TOKEN...
Verifies every token against the one JWKS (signature by the key its `kid` names, `iss`, `aud`, required claims)
and prints one JSON line per token with its header and claims; exits non-zero (reason on stderr) at the first
token that does not verify.
"""
import json
import sys

import jwt


def main() -> int:
    issuer, audience, jwks_file, tokens = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    with open(jwks_file, encoding="utf-8") as f:
        jwks = jwt.PyJWKSet.from_dict(json.load(f))
    for token in tokens:
        header = jwt.get_unverified_header(token)
        try:
            key = jwks[header["kid"]]
            claims = jwt.decode(
                token,
                key.key,
                algorithms=["RS256", "ES256", "ES384"],
                audience=audience,
                issuer=issuer,
                options={"require": ["exp", "iat", "nbf", "iss", "sub", "aud", "jti"]},
            )
        except (KeyError, jwt.PyJWTError) as e:
            print(f"rejected (kid {header.get('kid')!r}): {e!r}", file=sys.stderr)
            return 1
        print(json.dumps({"header": header, "claims": claims}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Independent verifier for tokens whose JWKS is at hand (an emulator's bucket, not a web server): PyJWT.

usage: pyjwt_verify_jwks.py ISSUER AUDIENCE JWKS_FILE TOKEN...
       pyjwt_verify_jwks.py ISSUER AUDIENCE --at MOMENTS_FILE
Verifies every token against the one JWKS (signature by the key its `kid` names, `iss`, `aud`, required claims)
and prints one JSON line per token with its header and claims; exits non-zero (reason on stderr) at the first
token that does not verify.

With --at, MOMENTS_FILE is {"jwks": [JWKS...], "tokens": [{"token": T, "at": UNIX, "jwks": INDEX}...]}: each token
is verified against the JWKS published when it was issued, with PyJWT's own exp/nbf/iat checks made as at that
moment (a soak on a virtual clock issues tokens at moments other than now).
"""
import json
import sys
from datetime import datetime, timezone

import jwt
import jwt.api_jwt

from pyjwt_verify import decode


class _At(datetime):
    """PyJWT reads the time as `datetime.now(tz=timezone.utc)`; this answers the moment being checked."""

    moment = None

    @classmethod
    def now(cls, tz=None):
        if cls.moment is None:
            return datetime.now(tz)
        return datetime.fromtimestamp(cls.moment, tz or timezone.utc)


def verify(jwks, token, issuer, audience):
    header = jwt.get_unverified_header(token)
    try:
        claims = decode(token, jwks[header["kid"]].key, issuer, audience)
    except (KeyError, jwt.PyJWTError) as e:
        print(f"rejected (kid {header.get('kid')!r}): {e!r}", file=sys.stderr)
        return False
    print(json.dumps({"header": header, "claims": claims}))
    return True


def main() -> int:
    issuer, audience, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
    if rest[:1] == ["--at"]:
        with open(rest[1], encoding="utf-8") as f:
            moments = json.load(f)
        jwt.api_jwt.datetime = _At
        sets = [jwt.PyJWKSet.from_dict(j) for j in moments["jwks"]]
        for t in moments["tokens"]:
            _At.moment = t["at"]
            if not verify(sets[t["jwks"]], t["token"], issuer, audience):
                print(f"at {t['at']}: {t['token']}", file=sys.stderr)
                return 1
        return 0
    with open(rest[0], encoding="utf-8") as f:
        jwks = jwt.PyJWKSet.from_dict(json.load(f))
    for token in rest[1:]:
        if not verify(jwks, token, issuer, audience):
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

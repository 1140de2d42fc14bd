"""Independent reading of an issuer's RSA keys: PyJWT (RSAAlgorithm.from_jwk, backed by `cryptography`) loads every
RSA key of the JWKS that the issuer's discovery document names, and reports each key's modulus size.

usage: jwks_rsa_key_sizes.py ISSUER
Prints {"<kid>": <key_size in bits>, ...} as JSON for the RSA keys; exits non-zero (with the reason on stderr) if
discovery or the JWKS cannot be read or a key does not load.
"""
import json
import sys
import urllib.request

from jwt.algorithms import RSAAlgorithm


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


def main() -> int:
    issuer = sys.argv[1]
    discovery = get_json(f"{issuer}/.well-known/openid-configuration")
    if discovery["issuer"] != issuer:
        print(f"discovery issuer {discovery['issuer']!r} != {issuer!r}", file=sys.stderr)
        return 1
    sizes = {}
    for jwk in get_json(discovery["jwks_uri"])["keys"]:
        if jwk.get("kty") != "RSA":
            continue
        try:
            key = RSAAlgorithm.from_jwk(jwk)
        except Exception as e:  # noqa: BLE001 - any failure to load is the answer
            print(f"key {jwk.get('kid')!r} does not load: {e}", file=sys.stderr)
            return 1
        sizes[jwk["kid"]] = key.key_size
    print(json.dumps(sizes))
    return 0


if __name__ == "__main__":
    sys.exit(main())

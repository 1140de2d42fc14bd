"""Independent readers of `iamjwt trust identity-center`: a POSIX shell runs the text output against a recording
stand-in `aws` command, and botocore's own request validation checks every request against the sso-admin, iam and
identitystore models.

usage: identity_center_trust.py MODE < output
  MODE run  : runs the text output with /bin/sh -eu, `aws` being a stand-in on PATH that records its argv and
              answers `--query FIELD --output text` with a made-up ARN or id; validates each recorded call's JSON
              arguments against botocore's input shapes; prints {"calls": [{"op", "input"}...]} (the inputs as the
              shell passed them: variables expanded, quoting undone)
  MODE json : validates the `--output json` document's requests against the same shapes (the ARNs AWS assigns
              later are `${NAME}` strings) and prints it back
Exits non-zero with the reason on stderr when the output does not run or validate.
"""
import json
import os
import subprocess
import sys
import tempfile

import botocore.session
from botocore import xform_name
from botocore.validate import validate_parameters

ANSWERS = {
    "TrustedTokenIssuerArn": "arn:aws:sso::123456789012:trustedTokenIssuer/ssoins-1234567890abcdef/tti-0123456789ab",
    "ApplicationArn": "arn:aws:sso::123456789012:application/ssoins-1234567890abcdef/apl-1234567890abcdef",
    "IdentityStoreId": "d-1234567890",
    "UserId": "90677c2e-9081-7081-7c2d-1f2e3d4c5b6a",
}

FAKE_AWS = """#!{python}
import json, sys
args = sys.argv[1:]
with open({log!r}, "a") as f:
    f.write(json.dumps(args) + "\\n")
if "--query" in args:
    print({answers!r}[args[args.index("--query") + 1]])
"""

_session = botocore.session.get_session()


def shape(service: str, cli_op: str):
    model = _session.get_service_model(service)
    by_cli = {xform_name(op, "-"): op for op in model.operation_names}
    return by_cli[cli_op], model.operation_model(by_cli[cli_op]).input_shape


def cli_input(argv: list) -> dict:
    """The request a CLI call makes: --cli-input-json merged with the other --flags (given as JSON or text)."""
    params = {}
    i = 2
    while i < len(argv):
        flag = argv[i]
        if flag in ("--query", "--output"):
            i += 2
            continue
        if flag == "--cli-input-json":
            params.update(json.loads(argv[i + 1]))
        else:
            name = "".join(w.capitalize() for w in flag[2:].split("-"))
            value = argv[i + 1]
            params[name] = json.loads(value) if value.startswith("{") else value
        i += 2
    return params


def check_enums(value, s, path: str) -> None:
    """What botocore's validation leaves to the service: enum members and unions (exactly one member)."""
    if s.type_name == "structure" and isinstance(value, dict):
        if s.metadata.get("union") and len(value) != 1:
            raise SystemExit(f"{path}: a union takes exactly one member, not {sorted(value)}")
        for k, v in value.items():
            if k in s.members and not s.members[k].metadata.get("document"):
                check_enums(v, s.members[k], f"{path}.{k}")
    elif s.type_name == "list" and isinstance(value, list):
        for i, v in enumerate(value):
            check_enums(v, s.member, f"{path}[{i}]")
    elif s.type_name == "string" and s.enum and value not in s.enum:
        raise SystemExit(f"{path}: {value!r} is not one of {s.enum}")


def validate(service: str, cli_op: str, params: dict) -> str:
    op, input_shape = shape(service, cli_op)
    checked = dict(params)
    # Policy documents travel as JSON strings in the iam API.
    for k in ("AssumeRolePolicyDocument", "PolicyDocument"):
        if isinstance(checked.get(k), dict):
            checked[k] = json.dumps(checked[k])
    validate_parameters(checked, input_shape)
    check_enums(checked, input_shape, op)
    return op


def run(text: str) -> dict:
    with tempfile.TemporaryDirectory() as d:
        log = os.path.join(d, "calls.jsonl")
        fake = os.path.join(d, "aws")
        with open(fake, "w") as f:
            f.write(FAKE_AWS.format(python=sys.executable, log=log, answers=ANSWERS))
        os.chmod(fake, 0o755)
        env = {"PATH": f"{d}:/usr/bin:/bin", "HOME": d}
        r = subprocess.run(["/bin/sh", "-eu"], input=text, text=True, env=env, capture_output=True)
        if r.returncode != 0:
            raise SystemExit(f"the script failed: {r.stderr}")
        with open(log) as f:
            argvs = [json.loads(line) for line in f]
    calls = []
    for argv in argvs:
        service, cli_op = argv[0], argv[1]
        params = cli_input(argv)
        calls.append({"op": validate(service, cli_op, params), "service": service, "input": params})
    return {"calls": calls}


def check_json(doc: dict) -> dict:
    for key, params in doc.items():
        if key in ("bearer_role_name", "bearer_role_trust_policy", "bearer_role_policy", "audience_policy_rule"):
            continue
        validate("sso-admin", key.replace("_", "-"), params)
    validate(
        "iam",
        "create-role",
        {"RoleName": doc["bearer_role_name"], "AssumeRolePolicyDocument": doc["bearer_role_trust_policy"]},
    )
    validate(
        "iam",
        "put-role-policy",
        {"RoleName": doc["bearer_role_name"], "PolicyName": "s3-access-grants", "PolicyDocument": doc["bearer_role_policy"]},
    )
    return doc


def main() -> int:
    mode, text = sys.argv[1], sys.stdin.read()
    if mode == "run":
        print(json.dumps(run(text)))
    elif mode == "json":
        print(json.dumps(check_json(json.loads(text))))
    else:
        raise SystemExit(f"unknown mode {mode}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

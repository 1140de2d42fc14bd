"""Independent parsers for `iamjwt trust` output: shlex for the shell commands, PyYAML for the Kubernetes file,
botocore's own request validation for the AWS documents.

usage: trust_shapes.py MODE < output
  MODE text     : prints {"commands": [argv, ...]} — comments dropped, continuation lines joined, each command split
                  by a POSIX shell lexer (so the quoting iamjwt printed is what a shell would see)
  MODE yaml     : prints the YAML document as JSON (PyYAML safe_load)
  MODE aws-json : validates {"oidc_provider", "trust_policy"} against botocore's models of
                  iam:CreateOpenIDConnectProvider and iam:CreateRole, then prints it back
  MODE aws-cli  : validates the aws CLI lines' JSON arguments against the same models
Exits non-zero with the reason on stderr when the output does not parse or validate.
"""
import json
import shlex
import sys

import botocore.session
import yaml
from botocore.validate import validate_parameters


def commands(text: str) -> list[list[str]]:
    out, current = [], ""
    for line in text.splitlines():
        if not current and (line.lstrip().startswith("#") or not line.strip()):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        out.append(shlex.split(current + line))
        current = ""
    if current:
        raise SystemExit(f"dangling continuation: {current!r}")
    return out


def iam_shape(op: str):
    return botocore.session.get_session().get_service_model("iam").operation_model(op).input_shape


def validate_aws(provider: dict, policy: dict) -> None:
    validate_parameters(provider, iam_shape("CreateOpenIDConnectProvider"))
    validate_parameters(
        {"RoleName": "iamjwt", "AssumeRolePolicyDocument": json.dumps(policy)}, iam_shape("CreateRole")
    )


def main() -> int:
    mode, text = sys.argv[1], sys.stdin.read()
    if mode == "text":
        print(json.dumps({"commands": commands(text)}))
    elif mode == "yaml":
        print(json.dumps(yaml.safe_load(text)))
    elif mode == "aws-json":
        doc = json.loads(text)
        if set(doc) != {"oidc_provider", "trust_policy"}:
            raise SystemExit(f"unexpected members {sorted(doc)}")
        validate_aws(doc["oidc_provider"], doc["trust_policy"])
        print(json.dumps(doc))
    elif mode == "aws-cli":
        cmds = commands(text)
        provider = next(c for c in cmds if c[:3] == ["aws", "iam", "create-open-id-connect-provider"])
        role = next(c for c in cmds if c[:3] == ["aws", "iam", "create-role"])
        provider_doc = json.loads(provider[provider.index("--cli-input-json") + 1])
        policy = json.loads(role[role.index("--assume-role-policy-document") + 1])
        validate_aws(provider_doc, policy)
        print(json.dumps({"oidc_provider": provider_doc, "trust_policy": policy,
                          "role_name": role[role.index("--role-name") + 1]}))
    else:
        raise SystemExit(f"unknown mode {mode}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Contract check between the CDK and the Rust binaries (run by cdk/check.sh after `cdk synth`).

For every synthesized template, each Rust Lambda's `Environment.Variables` are resolved to concrete
values (CloudFormation intrinsics become plausible stand-ins: a bucket name, the distribution's
domain name, a role ARN, an API id, ...) and the matching binary is run with exactly those variables and `--check-config`,
which parses them as the Lambda does at start-up. A prop combination the CDK accepts but the Rust
side refuses fails here, with the binary's one-line error.

An issuer in several regions synthesizes one template per region: the other regions' token functions take the
issuer URL, the bucket and the token role from the primary's stack outputs (Fn::GetStackOutput), resolved here from
the primary's template, which must be among TEMPLATE (named <stack name>.template.json, as `cdk synth` writes them).
Such a template has a token function and no rotate function; every other template has both.

Negative controls prove the check can fail: the token binary must refuse an unknown algorithm,
the token binary one without IAMJWT_API_ID, and the rotate binary one without IAMJWT_BUCKET or without
IAMJWT_TOKEN_ROLE_ARN. Each variable named with
--require must be set on the token function of at least one template, and the token binary must
refuse that environment once the variable holds a bad value: so the CDK's variable name is one the
binary reads (a misspelled name would be ignored, and the environment accepted).

usage: check_lambda_env.py --bin-dir DIR [--require VARIABLE]... TEMPLATE...
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

# Which binary runs which function: the construct ids in cdk/lib/issuer-functions.ts.
FUNCTIONS = {"TokenFunction": "token", "RotateFunction": "rotate"}

# A value the token binary refuses, for each variable --require can name.
BAD_TOKEN_VALUES = {
    "IAMJWT_TAG_READER_ROLE": "arn:aws:iam::111122223333:role/not-a-name",
    "IAMJWT_TAG_CACHE_SECONDS": "0",
    "IAMJWT_REGIONS": "us-east-1,us-east-1.evil.example",
}

PSEUDO = {
    "AWS::AccountId": "111122223333",
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::URLSuffix": "amazonaws.com",
}


class Unresolvable(Exception):
    pass


def bucket_name(logical_id: str) -> str:
    """A valid S3 bucket name as CloudFormation would generate it (lowercase, 3-63 characters)."""
    digest = hashlib.sha256(logical_id.encode()).hexdigest()[:12]
    return f"iamjwt-{logical_id.lower()[:40]}-{digest}"


def role_arn(logical_id: str) -> str:
    """An IAM role ARN as CloudFormation would generate it (CDK roles have no path; names are at most 64 characters)."""
    digest = hashlib.sha256(logical_id.encode()).hexdigest()[:12].upper()
    return f"arn:{PSEUDO['AWS::Partition']}:iam::{PSEUDO['AWS::AccountId']}:role/IamJwt-{logical_id[:44]}-{digest}"


def resolve(value, resources: dict, where: str, stacks: dict | None = None) -> str:
    """`value` with stand-ins for the intrinsics of a template whose resources are `resources`; `stacks` are the
    templates of the same synthesis by stack name (for Fn::GetStackOutput)."""
    stacks = stacks or {}
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float, bool)):
        raise Unresolvable(f"{where}: CloudFormation needs strings in Environment.Variables, got {value!r}")
    if isinstance(value, dict) and len(value) == 1:
        (fn, arg), = value.items()
        if fn == "Ref":
            if arg in PSEUDO:
                return PSEUDO[arg]
            kind = resources.get(arg, {}).get("Type")
            if kind == "AWS::S3::Bucket":
                return bucket_name(arg)
            if kind == "AWS::ApiGateway::RestApi":
                # API Gateway's ids are ten lowercase letters and digits.
                return hashlib.sha256(arg.encode()).hexdigest()[:10]
            raise Unresolvable(f"{where}: no stand-in for Ref to {arg} ({kind}); add one to cdk/scripts/check_lambda_env.py")
        if fn == "Fn::GetAtt":
            logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
            kind = resources.get(logical_id, {}).get("Type")
            if kind == "AWS::CloudFront::Distribution" and attribute == "DomainName":
                return "d111111abcdef8.cloudfront.net"
            if kind == "AWS::S3::Bucket" and attribute == "Arn":
                return f"arn:aws:s3:::{bucket_name(logical_id)}"
            if kind == "AWS::IAM::Role" and attribute == "Arn":
                return role_arn(logical_id)
            raise Unresolvable(f"{where}: no stand-in for Fn::GetAtt {logical_id}.{attribute} ({kind}); add one to cdk/scripts/check_lambda_env.py")
        if fn == "Fn::Join":
            separator, parts = arg
            return separator.join(resolve(p, resources, where, stacks) for p in parts)
        if fn == "Fn::GetStackOutput" and isinstance(arg, dict):
            # Another stack's output (the primary's, for another region's stack): its value in that template.
            producer = stacks.get(arg.get("StackName"))
            if producer is None:
                raise Unresolvable(f"{where}: Fn::GetStackOutput of stack {arg.get('StackName')!r}, whose template was not given")
            output = producer.get("Outputs", {}).get(arg.get("OutputName"))
            if output is None:
                raise Unresolvable(f"{where}: stack {arg['StackName']} has no output {arg.get('OutputName')!r}")
            return resolve(output["Value"], producer.get("Resources", {}), f"{where} (output {arg['OutputName']} of {arg['StackName']})", stacks)
    raise Unresolvable(f"{where}: cannot resolve {json.dumps(value)[:200]}; add it to cdk/scripts/check_lambda_env.py")


def read_template(template_path: Path) -> dict:
    try:
        return json.loads(template_path.read_text())
    except (OSError, ValueError) as e:
        raise Unresolvable(f"{template_path}: not a readable CloudFormation template ({e})") from e


def functions_of(template_path: Path, stacks: dict) -> dict:
    """{binary: (logical id, {variable: concrete value})} for the template's Rust Lambdas."""
    template = read_template(template_path)
    resources = template.get("Resources", {})
    found = {}
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Lambda::Function":
            continue
        props = resource.get("Properties", {})
        if not str(props.get("Runtime", "")).startswith("provided."):
            continue  # not a Rust binary (the first-rotation function is Node.js)
        path = resource.get("Metadata", {}).get("aws:cdk:path", "")
        binaries = [b for construct_id, b in FUNCTIONS.items() if f"/{construct_id}/" in f"{path}/"]
        if len(binaries) != 1:
            raise Unresolvable(f"{template_path.name}: custom-runtime function {logical_id} ({path}) is neither TokenFunction nor RotateFunction")
        variables = props.get("Environment", {}).get("Variables", {})
        env = {k: resolve(v, resources, f"{template_path.name} {logical_id} {k}", stacks) for k, v in variables.items()}
        if binaries[0] in found:
            raise Unresolvable(f"{template_path.name}: two {binaries[0]} functions")
        found[binaries[0]] = (logical_id, env)
    missing = sorted(set(FUNCTIONS.values()) - set(found))
    if missing == ["rotate"] and another_regions_stack(template, found):
        return found
    if missing:
        raise Unresolvable(f"{template_path.name}: no {' or '.join(missing)} function found (looked for construct ids {', '.join(FUNCTIONS)})")
    return found


def another_regions_stack(template: dict, found: dict) -> bool:
    """A stack of an issuer's region besides its primary: a token function whose bucket is another stack's output."""
    if "token" not in found:
        return False
    logical_id = found["token"][0]
    bucket = template["Resources"][logical_id]["Properties"]["Environment"]["Variables"].get("IAMJWT_BUCKET")
    return isinstance(bucket, dict) and "Fn::GetStackOutput" in bucket


def check_config(binary: Path, env: dict) -> tuple:
    """(exit code, combined output) of `binary --check-config` with exactly `env` (and a PATH)."""
    run_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}
    p = subprocess.run([str(binary), "--check-config"], env=run_env, capture_output=True, text=True, timeout=30)
    return p.returncode, (p.stdout + p.stderr).strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin-dir", required=True, type=Path, help="directory with the token and rotate debug binaries")
    parser.add_argument("--require", action="append", default=[], choices=sorted(BAD_TOKEN_VALUES),
                        help="a token variable some template must set, and that the binary must check")
    parser.add_argument("templates", nargs="+", type=Path)
    args = parser.parse_args()

    binaries = {name: args.bin_dir / name for name in FUNCTIONS.values()}
    absent = [str(b) for b in binaries.values() if not os.access(b, os.X_OK)]
    if absent:
        print(f"error: Lambda binaries not found: {', '.join(absent)} (build them with `cargo build -p iamjwt-lambda --bins`; "
              "`make test` does before the CDK checks; set CARGO_TARGET_DIR if your target directory is elsewhere)", file=sys.stderr)
        return 1

    failures = []
    controls = None
    # Every template of the synthesis by stack name, for Fn::GetStackOutput (cdk synth names them <stack>.template.json).
    stacks = {}
    for template in args.templates:
        try:
            stacks[template.name.removesuffix(".template.json")] = read_template(template)
        except Unresolvable as e:
            failures.append(str(e))
    # variable -> an accepted token environment that sets it
    required = {}
    for template in args.templates:
        try:
            functions = functions_of(template, stacks)
        except Unresolvable as e:
            failures.append(str(e))
            continue
        accepted = True
        for name, (logical_id, env) in sorted(functions.items()):
            code, output = check_config(binaries[name], env)
            if code != 0 or output:
                accepted = False
                failures.append(f"{template.name}: {name} refuses the environment the CDK gives {logical_id} (exit {code}): {output}")
            else:
                print(f"{template.name}: {name} accepts the {len(env)} variables of {logical_id}")
        if accepted and controls is None and set(functions) == set(FUNCTIONS.values()):
            controls = functions
        if accepted:
            for variable in args.require:
                if variable in functions["token"][1]:
                    required.setdefault(variable, (template.name, functions["token"][1]))

    # Negative controls, on an environment the binaries accepted: a check that cannot fail proves nothing.
    if controls:
        token_env = {**controls["token"][1], "IAMJWT_ALGORITHMS": "HS256"}
        rotate_env = {k: v for k, v in controls["rotate"][1].items() if k != "IAMJWT_BUCKET"}
        # The key policy's roles: the rotate binary must refuse to create keys without them.
        no_token_role = {k: v for k, v in controls["rotate"][1].items() if k != "IAMJWT_TOKEN_ROLE_ARN"}
        # The token binary must refuse to answer events without knowing its API.
        no_api = {k: v for k, v in controls["token"][1].items() if k != "IAMJWT_API_ID"}
        for name, env, variable in [("token", token_env, "IAMJWT_ALGORITHMS"), ("rotate", rotate_env, "IAMJWT_BUCKET"),
                                    ("rotate", no_token_role, "IAMJWT_TOKEN_ROLE_ARN"), ("token", no_api, "IAMJWT_API_ID")]:
            code, output = check_config(binaries[name], env)
            if code != 1 or variable not in output:
                failures.append(f"negative control: {name} --check-config should refuse a bad {variable} with exit 1, got exit {code}: {output!r}")

    for variable in args.require:
        if variable not in required:
            failures.append(f"no template gives the token function {variable} (an accepted one was required)")
            continue
        template_name, env = required[variable]
        bad = BAD_TOKEN_VALUES[variable]
        code, output = check_config(binaries["token"], {**env, variable: bad})
        if code != 1 or variable not in output:
            failures.append(f"{template_name}: token --check-config should refuse {variable}={bad!r} with exit 1, got exit {code}: {output!r}")
        else:
            print(f"{template_name}: token reads {variable} (accepts {env[variable]!r}, refuses {bad!r})")

    for f in failures:
        print(f"error: {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

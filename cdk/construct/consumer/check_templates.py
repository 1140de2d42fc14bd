"""The checks of the consumer apps' cloud assemblies (scripts/package-test.sh, make package-test).

    python3 check_templates.py --manifest <installed package>/cdk/lambda/manifest.json NAME=CDK_OUT ...

For each assembly: the stack template exists; every file asset of the stack is present in cdk.out; the token and
rotate functions deploy the packaged zips byte for byte (their SHA-256 is the one the package recorded). Across
assemblies: the templates are equal resource for resource (CDK's own AWS::CDK::Metadata resource records the app's
language, so it is left out). cdk-nag runs inside the apps (a synth with a finding fails; the script proves the
plugin is active with a probe) and cfn-lint separately on the same templates.
"""

import argparse
import hashlib
import json
import sys
from pathlib import Path

STACK = "Consumer"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_assembly(name: str, out: Path, zips: dict[str, str]) -> tuple[dict, list[str]]:
    problems: list[str] = []
    template_file = out / f"{STACK}.template.json"
    if not template_file.is_file():
        return {}, [f"{name}: no {template_file}"]
    template = json.loads(template_file.read_text())

    assets = json.loads((out / f"{STACK}.assets.json").read_text())
    by_key: dict[str, dict] = {}
    for asset_id, asset in assets.get("files", {}).items():
        source = out / asset["source"]["path"]
        if not source.exists():
            problems.append(f"{name}: asset {asset_id} is missing from cdk.out ({source})")
        for dest in asset["destinations"].values():
            by_key[dest["objectKey"]] = asset

    functions = {
        logical_id: r["Properties"]
        for logical_id, r in template["Resources"].items()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("Runtime") == "provided.al2023"
    }
    deployed = {}
    for logical_id, props in functions.items():
        asset = by_key.get(props["Code"]["S3Key"])
        if asset is None:
            problems.append(f"{name}: {logical_id}'s code {props['Code']['S3Key']} is not an asset of the stack")
            continue
        path = out / asset["source"]["path"]
        if asset["source"].get("packaging") != "file" or not path.is_file():
            problems.append(f"{name}: {logical_id}'s code is not a zip deployed as is ({asset['source']})")
            continue
        deployed[logical_id] = sha256(path)
    expected = {"TokenFunction": zips["token.zip"], "RotateFunction": zips["rotate.zip"]}
    for fn, digest in expected.items():
        matching = [lid for lid in deployed if lid.startswith(f"Issuer{fn}")]
        if len(matching) != 1:
            problems.append(f"{name}: expected one Issuer{fn}* function, found {sorted(deployed)}")
        elif deployed[matching[0]] != digest:
            problems.append(f"{name}: {matching[0]} deploys a zip with SHA-256 {deployed[matching[0]]}, the package recorded {digest}")
    return template, problems


def compare(a_name: str, a: dict, b_name: str, b: dict) -> list[str]:
    problems = []
    strip = lambda t: {k: v for k, v in t.get("Resources", {}).items() if v.get("Type") != "AWS::CDK::Metadata"}
    ra, rb = strip(a), strip(b)
    for lid in sorted(set(ra) | set(rb)):
        if lid not in rb:
            problems.append(f"{lid} ({ra[lid]['Type']}) only in {a_name}")
        elif lid not in ra:
            problems.append(f"{lid} ({rb[lid]['Type']}) only in {b_name}")
        elif ra[lid] != rb[lid]:
            problems.append(f"{lid} differs:\n  {a_name}: {json.dumps(ra[lid], sort_keys=True)[:1500]}\n"
                            f"  {b_name}: {json.dumps(rb[lid], sort_keys=True)[:1500]}")
    for section in ("Parameters", "Rules", "Conditions", "Outputs", "Mappings"):
        if a.get(section) != b.get(section):
            problems.append(f"section {section} differs between {a_name} and {b_name}")
    if not ra:
        problems.append(f"{a_name} has no resources")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--manifest", required=True, type=Path, help="the installed package's cdk/lambda/manifest.json")
    parser.add_argument("assemblies", nargs="+", help="NAME=CDK_OUT")
    args = parser.parse_args()
    zips = json.loads(args.manifest.read_text())["sha256"]
    templates = {}
    problems: list[str] = []
    for spec in args.assemblies:
        name, _, out = spec.partition("=")
        template, found = check_assembly(name, Path(out), zips)
        templates[name] = template
        problems += found
        if not found:
            print(f"{name}: {len(template['Resources'])} resources; every asset in cdk.out; "
                  f"token and rotate deploy the packaged zips byte for byte")
    names = list(templates)
    for other in names[1:]:
        if templates[names[0]] and templates[other]:
            diff = compare(names[0], templates[names[0]], other, templates[other])
            problems += diff
            if not diff:
                count = sum(1 for r in templates[other]["Resources"].values() if r["Type"] != "AWS::CDK::Metadata")
                print(f"{names[0]} and {other}: equal resource for resource ({count} resources besides AWS::CDK::Metadata)")
    if problems:
        print("consumer template checks failed:\n  - " + "\n  - ".join(problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

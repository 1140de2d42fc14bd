#!/usr/bin/env bash
# Everything that proves the CDK deployment without an AWS account, in one command (called by `make test`):
#   1. npm ci (only when node_modules is missing or older than package-lock.json)
#   2. tsc --noEmit                        type-check the app, construct and tests once
#   3. jest                                construct assertions, prop validation, cdk-nag AwsSolutions, the
#                                          Lambda zips' SHA-256 checks, one version (runs `iamjwt --version`)
#   4. cdk synth (offline, stub Lambdas)   the app as `make deploy` would build it, two configurations, and an issuer
#                                          in three regions (-c regions=us-east-1,eu-west-1,ap-southeast-2: three stacks)
#   5. logical ids                         the two single-region templates against test/fixtures/logical-ids.json
#                                          (no replacement on update)
#   6. Lambda environment contract         each function's synthesized variables through `token|rotate --check-config`,
#                                          in every template of every stack (the full configuration sets the tag
#                                          reader role and tag cache, the three-region one IAMJWT_REGIONS: checked too)
#   7. cfn-lint                            on every synthesized template
#   8. asl-validator                       on infra/rotation.asl.json
#   9. pytest tests/workflow               the ASL executed by moto's Step Functions engine
#
# Steps 3 and 6 run the Rust debug binaries from ${CARGO_TARGET_DIR:-<repo>/target}/debug (`make test` builds
# them first; alone: `cargo build -p iamjwt-cli -p iamjwt-lambda --bins`).
#
# The construct as a package (jsii, npm tarball, Python wheel, fresh consumer apps) is `make package-test`.
#
# Python tools come from $VENV (default <repo>/.venv); missing ones are installed from
# tests/workflow/requirements.txt. Nothing here talks to AWS: no credentials are read, the instance
# metadata service is disabled, and moto listens on 127.0.0.1 only.
set -euo pipefail

CDK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$CDK_DIR/.." && pwd)"
# Resolved against the caller's directory, before this script changes directory.
VENV="$(realpath -m "${VENV:-$REPO/.venv}")"
REQUIREMENTS="$REPO/tests/workflow/requirements.txt"
STUB_LAMBDAS="test/fixtures/lambda"

# Offline and hermetic: no telemetry, notices or version checks; no profile, credentials file or
# instance metadata lookups (the CLI would otherwise try them to find a default account).
export CDK_DISABLE_CLI_TELEMETRY=true CDK_DISABLE_VERSION_CHECK=true
export AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ENDPOINT_URL || true
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false

START=$SECONDS
STEP=""
step() {
  STEP="$1"
  printf '\n==> [%3ss] %s\n' "$((SECONDS - START))" "$STEP"
}
trap 'rc=$?; if [ $rc -ne 0 ]; then printf "\ncdk/check.sh: FAILED at step: %s (exit %s)\n" "$STEP" "$rc" >&2; fi' EXIT

cd "$CDK_DIR"

step "node dependencies"
command -v node >/dev/null || { echo "node is not installed (Node 20+ needed)" >&2; exit 1; }
lock_sum="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ ! -d node_modules ] || [ "$(cat node_modules/.iamjwt-lock-sha256 2>/dev/null || true)" != "$lock_sum" ]; then
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_sum" > node_modules/.iamjwt-lock-sha256
else
  echo "node_modules matches package-lock.json"
fi

step "python tools ($VENV)"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
req_sum="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
if [ "$(cat "$VENV/.iamjwt-workflow-requirements-sha256" 2>/dev/null || true)" != "$req_sum" ]; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
  echo "$req_sum" > "$VENV/.iamjwt-workflow-requirements-sha256"
else
  echo "requirements.txt already installed"
fi

step "type-check (tsc --noEmit)"
npx --no-install tsc --noEmit -p .

step "jest (construct assertions, prop validation, cdk-nag, zip hashes, version)"
npx --no-install jest --ci

OUT="$(mktemp -d)"
cleanup() { rm -rf "$OUT"; }
trap 'rc=$?; cleanup; if [ $rc -ne 0 ]; then printf "\ncdk/check.sh: FAILED at step: %s (exit %s)\n" "$STEP" "$rc" >&2; fi' EXIT

synth() {
  local name="$1"
  shift
  # cdk-nag runs inside the app: an unacknowledged finding fails the synth.
  npx --no-install cdk synth --quiet --no-notices --output "$OUT/$name" \
    -c defaultAudience=api://iamjwt-check -c lambdaCodeDir="$STUB_LAMBDAS" "$@"
}

step "cdk synth: default app (offline, stub Lambda binaries)"
synth default

step "cdk synth: custom domain + construct WAF + organization + principal tags read across accounts"
synth full -c stackName=IamJwtFull -c hostedZoneId=Z0123456789ABCDEFGHIJ -c hostedZoneName=example.com \
  -c apiGwWaf=ConstructProvided -c orgId=o-a1b2c3d4e5 -c allowedAccountIds=444455556666 \
  -c algorithms=ES256 -c rotationSchedule="rate(60 days)" \
  -c sessionTags=true -c tagReaderRoleName=iamjwt/tag-reader -c tagCacheSeconds=600

step "cdk synth: three regions (primary us-east-1, eu-west-1, ap-southeast-2), custom domain, construct WAF"
synth regions -c stackName=IamJwtRegions -c regions=us-east-1,eu-west-1,ap-southeast-2 \
  -c hostedZoneId=Z0123456789ABCDEFGHIJ -c hostedZoneName=example.com -c apiGwWaf=ConstructProvided

TEMPLATES=("$OUT/default/IamJwt.template.json" "$OUT/full/IamJwtFull.template.json")
# One template per region: the primary's and one for each other region (docs/multi-region.md).
REGION_TEMPLATES=("$OUT/regions/IamJwtRegions.template.json" "$OUT/regions/IamJwtRegions-eu-west-1.template.json"
  "$OUT/regions/IamJwtRegions-ap-southeast-2.template.json")
for t in "${REGION_TEMPLATES[@]}"; do
  [ -f "$t" ] || { echo "the three-region synth did not write $t" >&2; exit 1; }
done

step "logical ids unchanged (test/fixtures/logical-ids.json)"
node scripts/logical-ids.cjs check default="${TEMPLATES[0]}" full="${TEMPLATES[1]}"

step "Lambda environments accepted by the Rust binaries (--check-config)"
"$VENV/bin/python" scripts/check_lambda_env.py --bin-dir "${CARGO_TARGET_DIR:-$REPO/target}/debug" \
  --require IAMJWT_TAG_READER_ROLE --require IAMJWT_TAG_CACHE_SECONDS --require IAMJWT_REGIONS \
  "${TEMPLATES[@]}" "${REGION_TEMPLATES[@]}"

step "cfn-lint"
# W3005 ("dependency already enforced by a Ref/GetAtt") is CDK's style: it adds explicit DependsOn on
# role policies and on the first-rotation resource's inputs on purpose (ordering the policy before its
# users, and making the ordering visible). It is harmless, so that one rule is ignored.
"$VENV/bin/cfn-lint" --ignore-checks W3005 -- "${TEMPLATES[@]}" "${REGION_TEMPLATES[@]}"
echo "cfn-lint: no findings"

step "ASL validation (asl-validator)"
npx --no-install asl-validator --json-path "$REPO/infra/rotation.asl.json"

step "rotation workflow in moto (pytest tests/workflow)"
cd "$REPO"
"$VENV/bin/python" -m pytest -p no:cacheprovider -q tests/workflow

STEP="done"
printf '\ncdk/check.sh: all checks passed in %ss\n' "$((SECONDS - START))"

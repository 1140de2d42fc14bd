#!/usr/bin/env bash
# `make package-test`: the packages of `make package` used the way a newcomer uses them, in temporary directories.
#
#   1. TypeScript  a fresh app `npm install`s iamjwt-cdk-<version>.tgz (+ aws-cdk-lib, constructs, cdk-nag, and
#                  aws-cdk + typescript to build and synthesize) and synthesizes cdk/construct/consumer/app.ts,
#                  which runs cdk-nag AwsSolutions (a finding fails the synth; a probe proves the plugin is active)
#   2. Python      a fresh venv `pip install`s iamjwt_cdk-<version>-py3-none-any.whl (+ aws-cdk-lib, constructs,
#                  cdk-nag from PyPI) and synthesizes cdk/construct/consumer/app.py the same way (same cdk CLI)
#   3. checks      both assemblies: every asset is in cdk.out, the Lambdas deploy the packaged zips byte for byte,
#                  the templates are equal resource for resource (consumer/check_templates.py); cfn-lint on both
#   4. tampering   one flipped byte in the installed package's token.zip: the synth must fail on its SHA-256
#
# Both apps get the repository app's feature flags (cdk/cdk.json "context") and the library versions the package
# is built against (cdk/construct/package.json devDependencies). Offline apart from npm and PyPI: no AWS account,
# no credentials. Tools: node, python3 (venv), cfn-lint from $VENV (default <repo>/.venv).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONSUMER="$REPO/cdk/construct/consumer"
OUT="$(realpath -m "${PACKAGE_OUT:-${CARGO_TARGET_DIR:-$REPO/target}/package}")"
VENV="$(realpath -m "${VENV:-$REPO/.venv}")"

export CDK_DISABLE_CLI_TELEMETRY=true CDK_DISABLE_VERSION_CHECK=true
export AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ENDPOINT_URL || true
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false
export PIP_DISABLE_PIP_VERSION_CHECK=1

START=$SECONDS
STEP=""
step() {
  STEP="$1"
  printf '\n==> [%3ss] %s\n' "$((SECONDS - START))" "$STEP"
}
WORK="$(mktemp -d)"
# Kept when a step fails, for a look at the apps and their cdk.out.
trap 'rc=$?; if [ $rc -ne 0 ]; then printf "\npackage-test: FAILED at step: %s (exit %s); the apps are in %s\n" "$STEP" "$rc" "$WORK" >&2; \
  else rm -rf "$WORK"; fi' EXIT
fail() { echo "error: $*" >&2; exit 1; }

[ -x "$VENV/bin/cfn-lint" ] || fail "$VENV/bin/cfn-lint is missing (make venv)"
version="$(node -p "require('$REPO/infra/closed-sets.json').version")"
TGZ="$OUT/iamjwt-cdk-$version.tgz"
WHL="$OUT/iamjwt_cdk-$version-py3-none-any.whl"
[ -f "$TGZ" ] && [ -f "$WHL" ] || fail "$TGZ or $WHL is missing: run \`make package\` first"
dep() { node -p "const p = require('$1'); (p.dependencies || {})['$2'] || p.devDependencies['$2']"; }
CDK_LIB="$(dep "$REPO/cdk/construct/package.json" aws-cdk-lib)"
CONSTRUCTS="$(dep "$REPO/cdk/construct/package.json" constructs)"
CDK_NAG="$(dep "$REPO/cdk/construct/package.json" cdk-nag)"
CDK_CLI="$(dep "$REPO/cdk/package.json" aws-cdk)"
TYPESCRIPT="$(dep "$REPO/cdk/package.json" typescript)"
TYPES_NODE="$(dep "$REPO/cdk/package.json" @types/node)"
echo "iamjwt-cdk $version with aws-cdk-lib $CDK_LIB, constructs $CONSTRUCTS, cdk-nag $CDK_NAG (cdk CLI $CDK_CLI)"

# cdk.json of a consumer app: its command and the repository app's feature flags.
cdk_json() {
  APP="$1" node -e "
    const context = require('$REPO/cdk/cdk.json').context;
    process.stdout.write(JSON.stringify({ app: process.env.APP, context }, null, 2));" > cdk.json
}
# synth OUTDIR [ARGS...]: the cdk CLI of the TypeScript app, for both apps.
synth() {
  local out="$1"
  shift
  "$WORK/ts/node_modules/.bin/cdk" synth --quiet --no-notices --output "$out" "$@"
}
# The app's cdk-nag plugin is active: with `-c nagProbe=true` the app adds a bucket cdk-nag refuses, and the synth
# must fail on that finding (on success cdk-nag leaves no trace, so this is the proof that it ran).
nag_probe() {
  if synth "$WORK/probe.out" -c nagProbe=true > "$WORK/probe.log" 2>&1; then
    cat "$WORK/probe.log" >&2
    fail "$1: a bucket without access logs passed the synth: cdk-nag's AwsSolutions checks are not running"
  fi
  grep -q "AwsSolutions-S1" "$WORK/probe.log" || { cat "$WORK/probe.log" >&2; fail "$1: the probe synth failed, but not on AwsSolutions-S1"; }
  echo "$1: cdk-nag AwsSolutions is active (a probe bucket without access logs fails the synth: AwsSolutions-S1)"
  rm -rf "$WORK/probe.out"
}

step "TypeScript app: npm install the tarball, tsc, cdk synth"
mkdir -p "$WORK/ts" && cd "$WORK/ts"
npm init -y >/dev/null
npm install --no-audit --no-fund --loglevel=error "$TGZ" "aws-cdk-lib@$CDK_LIB" "constructs@$CONSTRUCTS" "cdk-nag@$CDK_NAG"
npm install --no-audit --no-fund --loglevel=error --save-dev "aws-cdk@$CDK_CLI" "typescript@$TYPESCRIPT" "@types/node@$TYPES_NODE"
cp "$CONSUMER/app.ts" .
cat > tsconfig.json <<'JSON'
{
  "compilerOptions": {
    "target": "ES2022", "module": "commonjs", "lib": ["ES2022"], "strict": true,
    "esModuleInterop": true, "skipLibCheck": true, "types": ["node"]
  },
  "files": ["app.ts"]
}
JSON
npx --no-install tsc -p .
cdk_json "node app.js"
synth cdk.out
echo "synthesized: $(ls cdk.out/*.template.json)"
nag_probe typescript

step "Python app: pip install the wheel in a fresh venv, cdk synth"
mkdir -p "$WORK/py" && cd "$WORK/py"
python3 -m venv .venv
.venv/bin/pip install --quiet "$WHL" "aws-cdk-lib==$CDK_LIB" "constructs==$CONSTRUCTS" "cdk-nag==$CDK_NAG"
cp "$CONSUMER/app.py" .
cdk_json "$WORK/py/.venv/bin/python app.py"
synth cdk.out
echo "synthesized: $(ls cdk.out/*.template.json)"
nag_probe python

step "template checks: assets in cdk.out, packaged zips deployed, TypeScript = Python"
"$VENV/bin/python" "$CONSUMER/check_templates.py" --manifest "$WORK/ts/node_modules/iamjwt-cdk/cdk/lambda/manifest.json" \
  typescript="$WORK/ts/cdk.out" python="$WORK/py/cdk.out"

step "cfn-lint (both templates)"
# W3005 is ignored for the reason cdk/check.sh gives (CDK's explicit DependsOn next to a Ref).
"$VENV/bin/cfn-lint" --ignore-checks W3005 -- "$WORK/ts/cdk.out/Consumer.template.json" "$WORK/py/cdk.out/Consumer.template.json"
echo "cfn-lint: no findings"

step "a flipped byte in the installed token.zip fails the synth"
cd "$WORK/ts"
zip_file="node_modules/iamjwt-cdk/cdk/lambda/token.zip"
"$VENV/bin/python" - "$zip_file" <<'PY'
import sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
data[len(data) // 2] ^= 0x01
open(path, "wb").write(bytes(data))
PY
rm -rf cdk.out
if synth cdk.out > "$WORK/tampered.log" 2>&1; then
  cat "$WORK/tampered.log" >&2
  fail "the synth accepted a token.zip whose SHA-256 differs from the recorded one"
fi
grep -q "token.zip has SHA-256 [0-9a-f]\{64\}, but the package recorded [0-9a-f]\{64\}" "$WORK/tampered.log" \
  || { cat "$WORK/tampered.log" >&2; fail "the synth failed, but not on the zip's SHA-256"; }
grep -o "token.zip has SHA-256 [0-9a-f]*, but the package recorded [0-9a-f]*" "$WORK/tampered.log" | head -1

STEP="done"
printf '\npackage-test: all checks passed in %ss\n' "$((SECONDS - START))"

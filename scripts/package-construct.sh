#!/usr/bin/env bash
# `make package`: the CDK construct as a jsii library, with the Lambda zips of `make lambdas` inside.
#
#   1. version     infra/closed-sets.json's (written from Cargo.toml by `iamjwt describe --json`; checked equal here)
#   2. stage       cdk/lib, cdk/assets, infra/{closed-sets,rotation.asl}.json at the paths the sources expect,
#                  target/lambda/{token,rotate}.zip in cdk/lambda/ with manifest.json (version, architecture,
#                  SHA-256 of each zip: synthesis refuses a zip whose hash differs), cdk/construct/package.json
#                  with the version
#   3. jsii        compile with --fail-on-warnings, then check-docs.cjs refuses any undocumented public member
#   4. npm pack    <out>/iamjwt-cdk-<version>.tgz
#   5. pacmak      <out>/iamjwt_cdk-<version>-py3-none-any.whl (jsii-pacmak: python3 -m venv, pip, build from PyPI)
#   6. sizes and SHA-256 of both, also written to <out>/SHA256SUMS
#
# The zips are the last `make lambdas`; they are refused when older than a Rust source or Cargo.toml/Cargo.lock (run
# `make lambdas` again); `--zips-ready` only checks that. Output: PACKAGE_OUT (default
# ${CARGO_TARGET_DIR:-<repo>/target}/package).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONSTRUCT="$REPO/cdk/construct"
LAMBDA_DIR="$(realpath -m "${LAMBDA_DIR:-$REPO/target/lambda}")"
OUT="$(realpath -m "${PACKAGE_OUT:-${CARGO_TARGET_DIR:-$REPO/target}/package}")"
STAGE="$OUT/stage"
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false

START=$SECONDS
step() { printf '\n==> [%3ss] %s\n' "$((SECONDS - START))" "$1"; }
fail() { echo "error: $*" >&2; exit 1; }

# Why the zips of `make lambdas` cannot be packaged (empty when they can): missing, or older than the Rust source.
zips_problem() {
  local f arch newer
  for f in token.zip rotate.zip ARCH; do
    [ -f "$LAMBDA_DIR/$f" ] || { echo "$LAMBDA_DIR/$f is missing: run \`make lambdas\` first"; return; }
  done
  arch="$(tr -d '[:space:]' < "$LAMBDA_DIR/ARCH")"
  case "$arch" in arm64|x86_64) ;; *) echo "$LAMBDA_DIR/ARCH says '$arch' (arm64 or x86_64): run \`make lambdas\`"; return ;; esac
  for f in token.zip rotate.zip; do
    newer="$(find "$REPO/crates" "$REPO/Cargo.toml" "$REPO/Cargo.lock" -type f \( -name '*.rs' -o -name 'Cargo.*' \) \
      -newer "$LAMBDA_DIR/$f" -print -quit)"
    if [ -n "$newer" ]; then
      echo "$LAMBDA_DIR/$f is older than ${newer#"$REPO/"}: run \`make lambdas\` so the package carries this source's build"
      return
    fi
  done
}

# --zips-ready: only say whether the zips can be packaged (exit 0) or why not (exit 1); `make test` asks.
if [ "${1:-}" = --zips-ready ]; then
  problem="$(zips_problem)"
  [ -z "$problem" ] || { echo "$problem"; exit 1; }
  exit 0
fi

command -v node >/dev/null || fail "node is not installed (Node 20+ needed)"
command -v python3 >/dev/null || fail "python3 is not installed (jsii-pacmak builds the wheel with it)"

step "version"
version="$(node -p "require('$REPO/infra/closed-sets.json').version")"
cargo_version="$(sed -n '/^\[workspace\.package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' "$REPO/Cargo.toml")"
[ "$version" = "$cargo_version" ] || fail "infra/closed-sets.json has version $version but Cargo.toml $cargo_version: \
regenerate it with \`iamjwt describe --json > infra/closed-sets.json\`"
echo "iamjwt $version"

step "Lambda zips ($LAMBDA_DIR)"
problem="$(zips_problem)" || true
[ -z "$problem" ] || fail "$problem"
arch="$(tr -d '[:space:]' < "$LAMBDA_DIR/ARCH")"
echo "token.zip, rotate.zip ($arch)"

step "node dependencies (cdk/construct: jsii, jsii-pacmak)"
lock_sum="$(sha256sum "$CONSTRUCT/package-lock.json" | cut -d' ' -f1)"
if [ ! -d "$CONSTRUCT/node_modules" ] || [ "$(cat "$CONSTRUCT/node_modules/.iamjwt-lock-sha256" 2>/dev/null || true)" != "$lock_sum" ]; then
  (cd "$CONSTRUCT" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_sum" > "$CONSTRUCT/node_modules/.iamjwt-lock-sha256"
else
  echo "node_modules matches package-lock.json"
fi

step "stage ($STAGE)"
rm -rf "$STAGE"
mkdir -p "$STAGE/cdk/lib" "$STAGE/cdk/lambda" "$STAGE/infra"
cp "$REPO"/cdk/lib/*.ts "$STAGE/cdk/lib/"
cp -R "$REPO/cdk/assets" "$STAGE/cdk/assets"
cp "$REPO/infra/closed-sets.json" "$REPO/infra/rotation.asl.json" "$STAGE/infra/"
cp "$LAMBDA_DIR/token.zip" "$LAMBDA_DIR/rotate.zip" "$STAGE/cdk/lambda/"
cp "$CONSTRUCT/tsconfig.json" "$CONSTRUCT/README.md" "$STAGE/"
ln -s "$CONSTRUCT/node_modules" "$STAGE/node_modules"
VERSION="$version" ARCH="$arch" STAGE="$STAGE" CONSTRUCT="$CONSTRUCT" node - <<'JS'
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { VERSION, ARCH, STAGE, CONSTRUCT } = process.env;
const pkg = JSON.parse(fs.readFileSync(path.join(CONSTRUCT, 'package.json'), 'utf8'));
delete pkg['//'];
const ordered = { name: pkg.name, version: VERSION, ...pkg };
fs.writeFileSync(path.join(STAGE, 'package.json'), `${JSON.stringify(ordered, null, 2)}\n`);
const dir = path.join(STAGE, 'cdk', 'lambda');
const sha256 = {};
for (const f of ['token.zip', 'rotate.zip']) {
  sha256[f] = crypto.createHash('sha256').update(fs.readFileSync(path.join(dir, f))).digest('hex');
}
// Read by cdk/lib/lambda-code.ts at synth time.
fs.writeFileSync(path.join(dir, 'manifest.json'), `${JSON.stringify({ version: VERSION, architecture: ARCH, sha256 }, null, 2)}\n`);
JS
cat "$STAGE/cdk/lambda/manifest.json"

step "jsii (--fail-on-warnings) and the docs check"
(cd "$STAGE" && "$CONSTRUCT/node_modules/.bin/jsii" --fail-on-warnings)
node "$CONSTRUCT/check-docs.cjs" "$STAGE/.jsii"
# The compiled construct must report the version it is packaged as.
built_version="$(cd "$STAGE" && node -p "require('./cdk/lib/index.js').IamJwtIssuer.VERSION")"
[ "$built_version" = "$version" ] || fail "the compiled IamJwtIssuer.VERSION is $built_version, not $version"

step "npm tarball"
mkdir -p "$OUT"
tgz="$OUT/iamjwt-cdk-$version.tgz"
rm -f "$tgz"
(cd "$STAGE" && npm pack --silent --pack-destination "$OUT" >/dev/null)
[ -f "$tgz" ] || fail "npm pack did not write $tgz"

step "Python wheel (jsii-pacmak)"
rm -rf "$STAGE/dist"
(cd "$STAGE" && "$CONSTRUCT/node_modules/.bin/jsii-pacmak" --targets python --outdir "$STAGE/dist")
whl_src="$(find "$STAGE/dist/python" -name "iamjwt_cdk-$version-py3-none-any.whl" -print -quit)"
[ -n "$whl_src" ] || fail "jsii-pacmak wrote no iamjwt_cdk-$version-py3-none-any.whl (see $STAGE/dist/python)"
whl="$OUT/$(basename "$whl_src")"
cp "$whl_src" "$whl"

step "packages"
(cd "$OUT" && sha256sum "$(basename "$tgz")" "$(basename "$whl")" > SHA256SUMS)
for f in "$tgz" "$whl"; do
  awk -v name="$(basename "$f")" -v bytes="$(stat -c %s "$f")" -v sum="$(sha256sum "$f" | cut -d' ' -f1)" \
    'BEGIN { printf "%-36s %6.2f MB  sha256 %s\n", name, bytes / 1e6, sum }'
done
printf 'Lambda zips inside (%s): token.zip %s, rotate.zip %s\n' "$arch" \
  "$(node -p "require('$STAGE/cdk/lambda/manifest.json').sha256['token.zip']")" \
  "$(node -p "require('$STAGE/cdk/lambda/manifest.json').sha256['rotate.zip']")"
printf '\nmake package: done in %ss (%s)\n' "$((SECONDS - START))" "$OUT"

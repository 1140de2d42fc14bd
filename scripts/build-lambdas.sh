#!/usr/bin/env bash
# Builds the `token` and `rotate` Lambda binaries for the provided.al2023 runtime with cargo-lambda (zig as the
# cross-linker, both from the project's .venv) into target/lambda/<fn>/bootstrap, zips each into
# target/lambda/<fn>.zip and prints the sizes. arm64 by default; falls back to x86_64 (with a warning) when the
# aarch64 Rust target cannot be installed. The architecture built is written to target/lambda/ARCH so the CDK app
# deploys the matching Lambda architecture.
set -euo pipefail
cd "$(dirname "$0")/.."

arch="${LAMBDA_ARCH:-arm64}"
if [[ "$arch" == arm64 ]] && ! rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
  if ! rustup target add aarch64-unknown-linux-gnu >/dev/null 2>&1; then
    echo "warning: cannot install the aarch64-unknown-linux-gnu Rust target here; building x86_64 instead." >&2
    echo "         The CDK app reads target/lambda/ARCH and deploys x86_64 functions to match." >&2
    arch=x86_64
  fi
fi
case "$arch" in
  arm64) flag=--arm64 ;;
  x86_64) flag=--x86-64 ;;
  *) echo "error: LAMBDA_ARCH must be arm64 or x86_64, not $arch" >&2; exit 2 ;;
esac

command -v cargo-lambda >/dev/null || { echo "error: cargo-lambda not on PATH (run: make lambdas)" >&2; exit 1; }
cargo lambda build --release "$flag" -p iamjwt-lambda --bin token --bin rotate

mkdir -p target/lambda
echo "$arch" > target/lambda/ARCH
python3 - <<'PY'
import os, zipfile
for fn in ("token", "rotate"):
    src = os.path.join("target/lambda", fn, "bootstrap")
    dst = os.path.join("target/lambda", fn + ".zip")
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        info = zipfile.ZipInfo("bootstrap", date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = 0o755 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        with open(src, "rb") as f:
            z.writestr(info, f.read())
    print(f"{fn}: bootstrap {os.path.getsize(src) / 1e6:.2f} MB, {dst} {os.path.getsize(dst) / 1e6:.2f} MB")
PY
echo "architecture: $arch"

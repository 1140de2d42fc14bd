#!/usr/bin/env bash
# `make dist`: static `iamjwt` binaries (musl libc linked in, no shared libraries) for x86_64 and aarch64 Linux,
# so a workload on EC2, ECS, EKS or Lambda (any distribution, any glibc) can download one file and run it.
# Built with cargo-zigbuild, zig as the cross-linker (both from PyPI, installed in the project's .venv by
# `make dist`). Output: target/dist/iamjwt-<version>-<arch>-linux-musl, SHA256SUMS, and the sizes printed.
# DIST_TARGETS overrides the target list (e.g. DIST_TARGETS=x86_64-unknown-linux-musl).
set -euo pipefail
cd "$(dirname "$0")/.."

targets="${DIST_TARGETS:-x86_64-unknown-linux-musl aarch64-unknown-linux-musl}"
command -v cargo-zigbuild >/dev/null || { echo "error: cargo-zigbuild not on PATH (run: make dist)" >&2; exit 1; }

for t in $targets; do
  case "$t" in
    x86_64-unknown-linux-musl | aarch64-unknown-linux-musl) ;;
    *) echo "error: DIST_TARGETS: $t is not x86_64-unknown-linux-musl or aarch64-unknown-linux-musl" >&2; exit 2 ;;
  esac
  if ! rustup target list --installed 2>/dev/null | grep -qx "$t"; then
    rustup target add "$t" >/dev/null || {
      echo "error: cannot install the Rust target $t (rustup target add $t needs static.rust-lang.org)" >&2
      exit 1
    }
  fi
done

version="$(cargo pkgid -p iamjwt-cli | sed 's/.*[#@]//')"
target_dir="${CARGO_TARGET_DIR:-target}"
dist="target/dist"
mkdir -p "$dist"
for t in $targets; do
  cargo zigbuild --release --locked --target "$t" -p iamjwt-cli --bin iamjwt
  arch="${t%%-*}"
  out="$dist/iamjwt-$version-$arch-linux-musl"
  cp "$target_dir/$t/release/iamjwt" "$out.tmp"
  mv "$out.tmp" "$out"
done

python3 - "$dist" "$version" $targets <<'PY'
import hashlib, os, struct, sys
dist, version, targets = sys.argv[1], sys.argv[2], sys.argv[3:]
machines = {"x86_64": 62, "aarch64": 183}  # ELF e_machine
sums = []
for t in targets:
    arch = t.split("-")[0]
    name = f"iamjwt-{version}-{arch}-linux-musl"
    path = os.path.join(dist, name)
    data = open(path, "rb").read()
    if data[:4] != b"\x7fELF":
        sys.exit(f"error: {path} is not an ELF binary")
    (machine,) = struct.unpack_from("<H", data, 18)
    if machine != machines[arch]:
        sys.exit(f"error: {path} is built for ELF machine {machine}, expected {machines[arch]} ({arch})")
    # A static executable has no PT_INTERP (dynamic loader) program header.
    phoff, = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    interp = any(struct.unpack_from("<I", data, phoff + i * phentsize)[0] == 3 for i in range(phnum))
    if interp:
        sys.exit(f"error: {path} is dynamically linked (has a program interpreter)")
    sums.append(f"{hashlib.sha256(data).hexdigest()}  {name}\n")
    print(f"{path}: {len(data) / 1e6:.2f} MB, static, {arch}")
tmp = os.path.join(dist, "SHA256SUMS.tmp")
with open(tmp, "w") as f:
    f.writelines(sums)
os.replace(tmp, os.path.join(dist, "SHA256SUMS"))
print(f"{dist}/SHA256SUMS")
PY

# The binary for this machine's architecture must run as shipped.
host="$(uname -m)"
if [[ " $targets " == *" $host-unknown-linux-musl "* ]]; then
  "$dist/iamjwt-$version-$host-linux-musl" --version
fi

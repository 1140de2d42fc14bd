#!/usr/bin/env python3
"""`make check-deps`: Cargo equals imports. Fails (exit 1) with one line per problem.

1. Every dependency a crate declares is used by its code: a `[dependencies]` entry by the crate's library, binaries
   or build script (`src/`), a `[dev-dependencies]` entry by any of its code (tests, benches, examples, `src/`), a
   `[build-dependencies]` entry by `build.rs`. "Used" means the crate's lib name (`-` → `_`, or the `package = `
   rename) starts a path (`name::`), is imported (`use name`) or declared (`extern crate name`) outside comments.
   A dependency that is only needed for its features (never imported) is listed with the reason in the crate's
   `[package.metadata.cargo-machete] ignored = [...]` (the key cargo-machete reads, so either tool agrees).
2. Local mode never compiles the AWS SDK: the normal and build dependency trees of the crates in `SDK_FREE` (and
   of the fuzz crate) contain no `aws-sdk-*`, `aws-config` or `lambda_*` crate.
3. Every committed lockfile is true: `cargo metadata --locked` of each workspace (the root and `fuzz/`) succeeds,
   i.e. resolving would not change `Cargo.lock`; and the fuzz crate type-checks (`cargo check --locked`).

No tools beyond cargo and the Python standard library. `--no-fuzz-check` skips the fuzz crate's `cargo check`.
"""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CARGO = os.environ.get("CARGO", "cargo")
WORKSPACES = [REPO / "Cargo.toml", REPO / "fuzz" / "Cargo.toml"]
FUZZ_MANIFEST = REPO / "fuzz" / "Cargo.toml"
# Crates whose builds must never pull in the AWS SDK or the Lambda runtime (README "Architecture"). A crate
# listed here that is not (yet) a workspace member is skipped, so the list can name crates other branches add.
SDK_FREE = ["iamjwt-core", "iamjwt-edge", "iamjwt-local", "iamjwt-fs", "iamjwt-sigv4", "iamjwt-testkit", "iamjwt-verifiers"]
FORBIDDEN = re.compile(r"^(aws-sdk-[\w-]+|aws-config|lambda_[\w-]+) v")


def cargo(*args: str, manifest: Path) -> str:
    cmd = [CARGO, *args, "--manifest-path", str(manifest)]
    p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if p.returncode != 0:
        raise CommandFailed(" ".join(cmd), p.stderr.strip())
    return p.stdout


class CommandFailed(Exception):
    def __init__(self, cmd: str, stderr: str):
        errors = [line for line in stderr.splitlines() if line.startswith("error")]
        super().__init__(f"`{cmd}` failed: {(errors or stderr.splitlines() or ['no output'])[0]}")
        self.stderr = stderr


# --- 1. unused dependencies ---------------------------------------------------------------------------------

LINE_COMMENT = re.compile(r"//.*$", re.MULTILINE)
BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
# DOTALL: a backslash before a newline (a Rust string continued on the next line) is an escape too.
STRING = re.compile(r'"(?:\\.|[^"\\])*"', re.DOTALL)


def code_of(path: Path) -> str:
    """The file without comments and string literals (a crate named in a doc comment or a URL is not a use)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    text = STRING.sub('""', text)  # first, so `//` inside a string ("https://...") is not a comment
    text = BLOCK_COMMENT.sub(" ", text)
    return LINE_COMMENT.sub("", text)


def uses(code: str, name: str) -> bool:
    """Whether `code` refers to the extern crate `name`. In a file that declares or imports a local module of the
    same name (`mod http;`, `use crate::http;`), a bare `http::` is that module, so only `::http::` counts there."""
    n = re.escape(name)
    if re.search(rf"(?<![\w:])::\s*{n}\b|\bextern\s+crate\s+{n}\b", code):
        return True
    shadowed = re.search(
        rf"\bmod\s+{n}\b|\b(?:crate|super|self)::(?:\w+::)*(?:{n}\s*[;,}}]|\{{[^}}]*\b{n}\b)", code
    )
    if shadowed:
        return False
    return re.search(rf"(?<![\w:.$]){n}\s*::|\buse\s+{n}\b", code) is not None


CFG_TEST_MOD = re.compile(r"#\[cfg\(test\)\]\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([\w:]+\))?\s+)?mod\s+(\w+)\s*([;{])")


def without_test_modules(path: Path, code: str) -> tuple[str, list[Path]]:
    """`code` without its inline `#[cfg(test)] mod x { ... }` blocks, and the files of its `#[cfg(test)] mod x;`."""
    files = []
    out, pos = [], 0
    for m in CFG_TEST_MOD.finditer(code):
        if m.start() < pos:
            continue
        if m.group(2) == ";":
            # mod x; declared in lib.rs/main.rs/mod.rs lives next to it, otherwise in a directory named after the file.
            base = path.parent if path.name in ("lib.rs", "main.rs", "mod.rs") else path.parent / path.stem
            files += [base / f"{m.group(1)}.rs", base / m.group(1) / "mod.rs"]
            continue
        depth, i = 1, m.end()
        while i < len(code) and depth:
            depth += {"{": 1, "}": -1}.get(code[i], 0)
            i += 1
        out.append(code[pos:m.start()])
        pos = i
    out.append(code[pos:])
    return "".join(out), files


def rust_files(root: Path, skip: set[Path]) -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        # Build output, and nested packages (they are checked on their own).
        dirnames[:] = [
            x for x in dirnames
            if x not in ("target", "node_modules", ".git") and d / x not in skip and not (d / x / "Cargo.toml").exists()
        ]
        out += [d / f for f in filenames if f.endswith(".rs")]
    return out


def unused_dependencies(meta: dict) -> list[str]:
    problems = []
    members = set(meta["workspace_members"])
    packages = [p for p in meta["packages"] if p["id"] in members]
    for pkg in packages:
        manifest = Path(pkg["manifest_path"])
        root = manifest.parent
        build = {Path(t["src_path"]) for t in pkg["targets"] if "custom-build" in t["kind"]}
        # Library and binary sources: the directories of their root files (src/lib.rs, src/main.rs, src/bin/x.rs).
        normal_roots = {
            Path(t["src_path"]).parent
            for t in pkg["targets"]
            if set(t["kind"]) & {"lib", "rlib", "dylib", "cdylib", "staticlib", "proc-macro", "bin"}
        }
        all_files = rust_files(root, set())
        code = {f: code_of(f) for f in all_files}
        # What the library and binaries compile outside tests: `#[cfg(test)]` modules do not count for [dependencies].
        normal_code, test_files = {}, set()
        for f in all_files:
            if f not in build and any(r in f.parents for r in normal_roots):
                normal_code[f], tests = without_test_modules(f, code[f])
                test_files.update(tests)
        normal_code = {f: c for f, c in normal_code.items() if f not in test_files}
        ignored = set(((pkg.get("metadata") or {}).get("cargo-machete") or {}).get("ignored", []))
        # Several entries for one dependency (e.g. a dev entry that only adds features): judge each kind once.
        seen = set()
        for dep in pkg["dependencies"]:
            kind = dep["kind"] or "normal"
            key = (dep["name"], dep.get("rename"), kind, json.dumps(dep.get("target")))
            if key in seen:
                continue
            seen.add(key)
            name = dep["name"]
            if dep.get("path") and Path(dep["path"]) == root:
                continue  # the crate itself, as a dev-dependency with test features
            lib = (dep.get("rename") or name).replace("-", "_")
            if name in ignored or dep.get("rename") in ignored:
                continue
            if kind == "normal":
                sources = normal_code
            elif kind == "dev":
                sources = code
                # A dev entry may repeat a normal dependency to add features for tests; one that adds none is noise.
                normal = [d for d in pkg["dependencies"] if (d["kind"] or "normal") == "normal" and d["name"] == name
                          and d.get("rename") == dep.get("rename") and d.get("target") == dep.get("target")]
                if normal and set(dep["features"]) <= set(normal[0]["features"]) and (
                        normal[0]["uses_default_features"] or not dep["uses_default_features"]):
                    problems.append(f"{manifest.relative_to(REPO)}: [dev-dependencies] {name} repeats the "
                                    f"[dependencies] entry and adds no feature; remove it")
                    continue
            else:
                sources = {f: code[f] for f in build}
            if not any(uses(c, lib) for c in sources.values()):
                where = {"normal": "its library and binaries (src/)", "dev": "any of its code",
                         "build": "build.rs"}[kind]
                section = {"normal": "dependencies", "dev": "dev-dependencies", "build": "build-dependencies"}[kind]
                hint = ""
                if kind == "normal" and any(uses(c, lib) for c in code.values()):
                    hint = " (only tests, benches or examples use it: move it to [dev-dependencies])"
                problems.append(
                    f"{manifest.relative_to(REPO)}: [{section}] {name} is not used by {where}{hint}; remove it, or "
                    f"list it with the reason in [package.metadata.cargo-machete] ignored"
                )
    return problems


# --- 2. no AWS SDK in local mode -----------------------------------------------------------------------------

def sdk_in_trees(packages: list[str], manifest: Path) -> list[str]:
    """One `cargo tree` for all the packages (`--prefix depth`: a root is at depth 0)."""
    args = ["tree", "--locked", "-e", "normal,build", "--prefix", "depth", "--no-dedupe", "--format", "{p}"]
    for p in packages:
        args += ["-p", p]
    found: dict[str, set[str]] = {}
    root = packages[0] if packages else str(manifest.parent.relative_to(REPO))
    for line in cargo(*args, manifest=manifest).splitlines():
        m = re.match(r"^(\d+)(.*)$", line)
        if not m:
            continue
        depth, crate = int(m.group(1)), m.group(2)
        if depth == 0:
            root = crate.split(" ")[0]
        elif FORBIDDEN.match(crate):
            found.setdefault(root, set()).add(crate.split(" (")[0])
    return [f"{who} depends on {', '.join(sorted(crates))}: local mode, the edge and the fuzz targets never compile "
            f"the AWS SDK or the Lambda runtime (`cargo tree -e normal,build -i <crate>` shows the path)"
            for who, crates in sorted(found.items())]


# --- main ----------------------------------------------------------------------------------------------------

def main() -> int:
    fuzz_check = "--no-fuzz-check" not in sys.argv[1:]
    started = time.monotonic()
    problems: list[str] = []
    checked: list[str] = []
    for manifest in WORKSPACES:
        rel = manifest.relative_to(REPO)
        # 3. The lockfile is true: resolving with --locked fails when Cargo.lock would change.
        try:
            cargo("metadata", "--format-version", "1", "--locked", manifest=manifest)
        except CommandFailed as e:
            if "--locked was passed" in e.stderr:
                problems.append(f"{rel.parent / 'Cargo.lock'} is stale: run `cargo update --workspace --manifest-path "
                                f"{rel}` and commit it")
            else:
                problems.append(str(e))
            continue
        meta = json.loads(cargo("metadata", "--format-version", "1", "--no-deps", "--locked", manifest=manifest))
        problems += unused_dependencies(meta)
        names = {p["name"] for p in meta["packages"] if p["id"] in set(meta["workspace_members"])}
        if manifest == FUZZ_MANIFEST:
            problems += sdk_in_trees([], manifest)
        else:
            checked = [c for c in SDK_FREE if c in names]
            problems += sdk_in_trees(checked, manifest)
    if fuzz_check and not problems:
        # The fuzz crate is no workspace member: nothing else compiles it, so a change to the APIs its targets call
        # would go unnoticed until `make fuzz`. Plain `cargo check` needs no sanitizer and no nightly features.
        try:
            # The workspace's target directory: fuzz/target holds cargo-fuzz's sanitizer builds, which this
            # plain check would otherwise invalidate (and the reverse).
            target_dir = os.environ.get("CARGO_TARGET_DIR") or str(REPO / "target")
            cargo("check", "--locked", "--quiet", "--bins", "--target-dir", target_dir, manifest=FUZZ_MANIFEST)
        except CommandFailed as e:
            problems.append(f"fuzz/: `cargo check --locked` fails:\n{e.stderr}")
    for p in problems:
        print(f"check-deps: {p}", file=sys.stderr)
    took = time.monotonic() - started
    if problems:
        print(f"check-deps: {len(problems)} problem(s) ({took:.1f}s)", file=sys.stderr)
        return 1
    print(f"check-deps: every dependency is used, no AWS SDK in {', '.join(checked)} or fuzz/, lockfiles true "
          f"({took:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

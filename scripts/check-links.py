#!/usr/bin/env python3
"""`make check-links`: every reference a reader of README.md and docs/*.md follows resolves inside this repository.

- Every relative Markdown link (`[text](path)`, `[text](path#anchor)`, `[text](#anchor)`, `[ref]: path`) names a
  file or directory that exists, and an `#anchor` into a Markdown file names one of its headings, slugged the way
  GitHub slugs them.
- Every `NAME.md` the prose mentions (outside code) exists in the repository: a document the reader does not have
  (a design note kept elsewhere) is not a reference they can follow.

Links to other sites (`https://…`, `mailto:`) are not fetched. Exit 1 with one line per broken reference.
Run with `--self-test` to check the slug and link rules themselves.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
MD_MENTION = re.compile(r"(?<![\w/.-])([\w./-]*[\w-]+\.md)\b")
EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")  # https:, mailto:, …


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def prose_lines(text: str):
    """(line number, line) outside fenced code blocks, with inline code spans blanked."""
    fence = None
    for n, line in enumerate(text.splitlines(), 1):
        m = re.match(r"^\s{0,3}(`{3,}|~{3,})", line)
        if m:
            mark = m.group(1)
            if fence is None:
                fence = mark[0] * len(mark)
            elif mark.startswith(fence):
                fence = None
            continue
        if fence is None:
            yield n, re.sub(r"`[^`]*`", lambda s: " " * len(s.group(0)), line)


def slug(heading: str) -> str:
    """GitHub's heading anchor: markup dropped, lower case, punctuation removed (word characters, spaces and hyphens
    stay), each space a hyphen."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.replace("`", "").strip().lower()
    kept = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch in (" ", "-", "_") or cat[0] in ("L", "N") or cat == "Mn":
            kept.append(ch)
    return "".join(kept).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a Markdown file; a repeated heading gets -1, -2, … as on GitHub."""
    seen: dict[str, int] = {}
    out: set[str] = set()
    for _, line in prose_lines(path.read_text(encoding="utf-8")):
        m = re.match(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        base = slug(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def check_target(doc: Path, target: str) -> str | None:
    """Why `target`, linked from `doc`, does not resolve (None when it does)."""
    if EXTERNAL.match(target) or target.startswith("//"):
        return None
    path_part, _, anchor = target.partition("#")
    dest = doc if path_part == "" else (doc.parent / path_part).resolve()
    try:
        dest.relative_to(ROOT)
    except ValueError:
        return f"{target} points outside the repository"
    if not dest.exists():
        return f"{target}: {dest.relative_to(ROOT)} does not exist"
    if anchor and dest.suffix == ".md" and anchor not in anchors(dest):
        return f"{target}: {dest.relative_to(ROOT)} has no heading with anchor #{anchor}"
    return None


def check(doc: Path) -> list[str]:
    problems = []
    rel = doc.relative_to(ROOT)
    for n, line in prose_lines(doc.read_text(encoding="utf-8")):
        targets = [m.group(1) for m in INLINE_LINK.finditer(line)]
        ref = REFERENCE_DEF.match(line)
        if ref:
            targets.append(ref.group(1))
        for t in targets:
            why = check_target(doc, t)
            if why:
                problems.append(f"{rel}:{n}: broken link {why}")
        # prose naming a document, outside links (their targets were checked above)
        bare = INLINE_LINK.sub(lambda m: " " * len(m.group(0)), line)
        for m in MD_MENTION.finditer(bare):
            name = m.group(1)
            if EXTERNAL.match(name) or "://" in line[max(0, m.start() - 8) : m.start()]:
                continue
            candidates = [doc.parent / name, ROOT / name, ROOT / "docs" / name]
            if not any(c.exists() for c in candidates):
                problems.append(
                    f"{rel}:{n}: mentions {name}, which is not in the repository (link a document the reader has)"
                )
    return problems


def self_test() -> None:
    assert slug("HTTP contract") == "http-contract"
    assert slug("Shaping claims per verifier (policy rules)") == "shaping-claims-per-verifier-policy-rules"
    assert slug("`iamjwt agent` — the agent") == "iamjwt-agent--the-agent"
    assert slug("Emergency (`iamjwt rotate --emergency`)") == "emergency-iamjwt-rotate---emergency"
    assert slug("[Install](#install) now") == "install-now"
    assert INLINE_LINK.search("see [a](docs/x.md#y).").group(1) == "docs/x.md#y"
    assert INLINE_LINK.search('[a](x.md "title")').group(1) == "x.md"
    assert [l for _, l in prose_lines("a\n```\n[x](nope.md)\n```\nb `[y](no.md)`")] == ["a", "b " + " " * len("`[y](no.md)`")]
    assert check_target(ROOT / "README.md", "https://example.com/x.md") is None
    assert check_target(ROOT / "README.md", "#no-such-heading") is not None
    assert check_target(ROOT / "README.md", "docs/no-such-file.md") is not None
    assert check_target(ROOT / "README.md", "../outside.md") is not None
    print("check-links: self-test ok")


def main() -> int:
    if sys.argv[1:] == ["--self-test"]:
        self_test()
        return 0
    problems = [p for doc in documents() for p in check(doc)]
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"check-links: {len(problems)} broken reference(s) in README.md and docs/", file=sys.stderr)
        return 1
    print(f"check-links: every relative link and document mention in {len(documents())} files resolves")
    return 0


if __name__ == "__main__":
    sys.exit(main())

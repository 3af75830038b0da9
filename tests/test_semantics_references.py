"""Code, tests and snapshot cases cite the rules by their sections in `docs/semantics.md`
(`docs/semantics.md#i2-server-generated-values`); every section they cite exists."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List, Set

ROOT = Path(__file__).resolve().parent.parent
SEMANTICS = ROOT / "docs" / "semantics.md"
CITATION = re.compile(r"docs/semantics\.md#([\w-]+)")
#: Where the rules are cited: the package, the tests, the benchmarks, the snapshot cases.
CITING = ("codemods", "tests", "benchmarks", "snapshots")


def anchors(markdown: str) -> Set[str]:
    """The link anchors GitHub gives the document's headings: lower case, punctuation other
    than ``-`` and ``_`` dropped, spaces as ``-``."""
    found = set()
    for line in markdown.splitlines():
        heading = re.match(r"#{1,6} (.+)", line)
        if heading:
            text = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower())
            found.add(text.replace(" ", "-"))
    return found


def citations() -> Dict[str, List[str]]:
    """Each cited anchor, with the files (relative to the repository) that cite it."""
    cited: Dict[str, List[str]] = {}
    files = [ROOT / "README.md"]
    for folder in CITING:
        files.extend(p for p in sorted((ROOT / folder).rglob("*"))
                     if p.suffix in (".py", ".md", ".toml") and p.is_file()
                     and "input" not in p.relative_to(ROOT).parts
                     and "output" not in p.relative_to(ROOT).parts)
    for path in files:
        for anchor in CITATION.findall(path.read_text(encoding="utf-8")):
            cited.setdefault(anchor, []).append(path.relative_to(ROOT).as_posix())
    return cited


def test_the_heading_anchors_are_those_the_document_links_to() -> None:
    text = SEMANTICS.read_text(encoding="utf-8")
    assert {"i2-server-generated-values", "x1-commit-with-expire_on_commit-on",
            "l1-a-new-objects-relationships", "s-re-selects-and-get"} <= anchors(text)
    assert set(re.findall(r"\]\(#([\w-]+)\)", text)) <= anchors(text)


def test_every_cited_section_exists() -> None:
    cited = citations()
    assert len(cited) > 10  # the snapshot cases cite sections
    known = anchors(SEMANTICS.read_text(encoding="utf-8"))
    assert {anchor: where for anchor, where in cited.items() if anchor not in known} == {}

"""Renderers: findings as text or JSON, fixes as unified diffs, the run summary."""

from __future__ import annotations

import difflib
import json
from typing import Dict, Iterable, List, Sequence

from codemods.engine import FileOutcome, RunResult
from codemods.types import Finding


def finding_line(finding: Finding) -> str:
    tag = " [possible]" if finding.certainty == "possible" else ""
    return f"{finding.path}:{finding.line}:{finding.column}: {finding.code}{tag} {finding.message}"


def render_text(findings: Iterable[Finding]) -> str:
    return "".join(finding_line(f) + "\n" for f in findings)


def finding_json(finding: Finding) -> Dict[str, object]:
    return {
        "path": finding.path,
        "line": finding.line,
        "column": finding.column,
        "code": finding.code,
        "message": finding.message,
        "certainty": finding.certainty,
        "function": finding.function,
        "object": finding.object,
        "model": finding.model,
        "attributes": list(finding.attributes),
        "site": {"line": finding.site.line, "kind": finding.site.kind, "session": finding.site.session},
        "fix": None if finding.fix is None else {
            "applicability": finding.fix.applicability,
            "line": finding.fix.line,
            "text": finding.fix.text,
        },
    }


def render_json(result: RunResult) -> str:
    findings = [finding_json(f) for f in result.findings]
    errors = [{"path": o.display, "message": o.error} for o in result.errors]
    document = {
        "version": 1,
        "findings": findings,
        "errors": errors,
        "summary": summary_counts(result),
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def summary_counts(result: RunResult) -> Dict[str, object]:
    findings = result.findings
    by_code: Dict[str, int] = {}
    for finding in findings:
        by_code[finding.code] = by_code.get(finding.code, 0) + 1
    return {
        "findings": len(findings),
        "possible": sum(1 for f in findings if f.certainty == "possible"),
        "fixable": sum(1 for f in findings if f.fix is not None and f.fix.applicability == "safe"),
        "files_with_findings": len({f.path for f in findings}),
        "files_scanned": result.scanned,
        "errors": len(result.errors),
        "by_code": dict(sorted(by_code.items())),
        "settings": {
            "backend": result.settings.backend,
            "backend_source": result.settings.backend_source,
            "sqlalchemy": result.settings.sqlalchemy,
            "sqlalchemy_source": result.settings.sqlalchemy_source,
            "expire_on_commit": result.settings.expire_on_commit,
            "expire_on_commit_source": result.settings.expire_on_commit_source,
        },
    }


def unified_diff(outcome: FileOutcome) -> str:
    """A patch that ``git apply`` and ``patch -p1`` accept, paths relative to the current folder."""
    old = outcome.old_text.splitlines(keepends=True)
    new = outcome.new_text.splitlines(keepends=True)
    lines: List[str] = []
    for line in difflib.unified_diff(old, new, f"a/{outcome.display}", f"b/{outcome.display}"):
        if line.startswith(("---", "+++")):
            lines.append(line.rstrip("\r\n") + "\n")
            continue
        if not line.endswith(("\n", "\r")):
            lines.append(line + "\n\\ No newline at end of file\n")
        else:
            lines.append(line)
    return "".join(lines)


def render_diff(outcomes: Sequence[FileOutcome]) -> str:
    return "".join(unified_diff(o) for o in outcomes if o.changed)


def plural(count: int, word: str) -> str:
    return f"{count:,} {word}" + ("" if count == 1 else "s")


def summary_line(result: RunResult, seconds: float, changed: int = 0, verb: str = "") -> str:
    findings = result.findings
    files_with = len({f.path for f in findings})
    fixable = sum(1 for f in findings if f.fix is not None and f.fix.applicability == "safe")
    possible = sum(1 for f in findings if f.certainty == "possible")
    parts = [f"{plural(len(findings), 'finding')} in {plural(files_with, 'file')}"]
    if findings:
        parts[0] += f", {fixable:,} fixable"
        if possible:
            parts[0] += f", {possible:,} possible"
    if verb:
        parts.append(f"{plural(changed, 'file')} {verb}")
    errors = len(result.errors)
    if errors:
        parts.append(plural(errors, "error"))
    return "; ".join(parts) + f" (scanned {plural(result.scanned, 'file')} in {seconds:.1f} s)"

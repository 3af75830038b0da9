"""Renderers: findings as text, JSON, SARIF or GitHub annotations; fixes as diffs; the summary.

Nothing here prints or writes: every function returns the text, and the command line
decides where it goes. Every list comes out in a fixed order (paths, then lines), whatever
order the engine produced it in.
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence

from codemods.engine import FileOutcome, RunResult
from codemods.types import Finding, Fix

# --------------------------------------------------------------------------
# Findings
# --------------------------------------------------------------------------


def finding_line(finding: Finding) -> str:
    tag = " [possible]" if finding.certainty == "possible" else ""
    return f"{finding.path}:{finding.line}:{finding.column}: {finding.code}{tag} {finding.message}"


def render_text(findings: Iterable[Finding]) -> str:
    return "".join(finding_line(f) + "\n" for f in sorted(findings, key=lambda f: f.sort_key))


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
        "site": {"line": finding.site.line, "kind": finding.site.kind,
                 "session": finding.site.session},
        "fix": None if finding.fix is None else {
            "applicability": finding.fix.applicability,
            "line": finding.fix.line,
            "text": finding.fix.text,
        },
        **finding_details(finding),
    }


def finding_details(finding: Finding) -> Dict[str, object]:
    """Why, per attribute (the structured causes), who reads it elsewhere, and the error path."""
    return {
        "causes": [{"attribute": attr, "code": cause.code, "kind": cause.kind, "why": cause.why,
                    "possible": cause.possible, "backend_unknown": cause.backend_unknown}
                   for attr, cause in finding.causes],
        "reader": finding.reader,
        "error_path": finding.error_path,
    }


def render_json(result: RunResult) -> str:
    findings = [finding_json(f) for f in sorted(result.findings, key=lambda f: f.sort_key)]
    errors = [{"path": o.display, "message": o.error} for o in _sorted(result.errors)]
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


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(findings: Iterable[Finding]) -> str:
    """GitHub Actions workflow commands: one ``::error`` (``::warning`` if possible) per finding."""
    lines = []
    for f in sorted(findings, key=lambda f: f.sort_key):
        level = "warning" if f.certainty == "possible" else "error"
        properties = (f"file={_escape_property(f.path)},line={f.line},col={f.column},"
                      f"title={_escape_property(f.code)}")
        lines.append(f"::{level} {properties}::{_escape_data(f.message)}\n")
    return "".join(lines)


def render_sarif(result: RunResult, version: str, base_uri: str) -> str:
    """SARIF 2.1.0: one run, every rule described, each finding with the fix as replacements.

    ``base_uri`` (a ``file://`` URI ending in ``/``) is what the relative paths of the
    findings are relative to (the current folder). A fix that was computed but is not
    applied without ``--unsafe-fixes`` has no replacements to show; its statement is in
    the result's ``properties.fix``.
    """
    from codemods.rules import RULES, markdown

    rule_index = {rule.code: i for i, rule in enumerate(RULES)}
    rules = [{
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": _plain(rule.what)},
        "help": {"text": _plain(rule.fix), "markdown": markdown(rule)},
        "defaultConfiguration": {"level": "error"},
    } for rule in RULES]
    results = []
    for outcome in _sorted(result.outcomes):
        applied = set(outcome.module.edits) if outcome.module is not None else set()
        for finding in sorted(outcome.findings, key=lambda f: f.sort_key):
            entry: Dict[str, object] = {
                "ruleId": finding.code,
                "level": "warning" if finding.certainty == "possible" else "error",
                "message": {"text": finding.message},
                "locations": [_location(finding.path, {"startLine": finding.line,
                                                       "startColumn": finding.column})],
                "properties": {
                    "object": finding.object,
                    "model": finding.model,
                    "attributes": list(finding.attributes),
                    "certainty": finding.certainty,
                    "function": finding.function,
                    "site": {"line": finding.site.line, "kind": finding.site.kind,
                             "session": finding.site.session},
                    "fix": None if finding.fix is None else {
                        "applicability": finding.fix.applicability, "line": finding.fix.line,
                        "text": finding.fix.text},
                    **finding_details(finding),
                },
            }
            if finding.code in rule_index:
                entry["ruleIndex"] = rule_index[finding.code]
            if finding.fix is not None and finding.fix.edit in applied:
                entry["fixes"] = [_sarif_fix(outcome, finding.fix)]
            results.append(entry)
    notifications = [{
        "level": "error",
        "message": {"text": outcome.error},
        "locations": [_location(outcome.display, None)],
    } for outcome in _sorted(result.errors)]
    document = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "flushguard", "version": version, "rules": rules}},
            "originalUriBaseIds": {"%SRCROOT%": {"uri": base_uri}},
            "columnKind": "unicodeCodePoints",
            "invocations": [{"executionSuccessful": not notifications,
                             "toolExecutionNotifications": notifications}],
            "results": results,
        }],
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def _location(path: str, region: Optional[Dict[str, int]]) -> Dict[str, object]:
    physical: Dict[str, object] = {"artifactLocation": {"uri": _uri(path),
                                                        "uriBaseId": "%SRCROOT%"}}
    if region is not None:
        physical["region"] = region
    return {"physicalLocation": physical}


def _uri(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")


def _sarif_fix(outcome: FileOutcome, fix: Fix) -> Dict[str, object]:
    """The fix as SARIF replacements: its statement inserted, and the imports it needs."""
    from codemods import rewrite

    replacements = [{
        "deletedRegion": {"charOffset": offset, "charLength": length},
        "insertedContent": {"text": text},
    } for offset, length, text in rewrite.replacements(outcome.old_text, [fix.edit])]  # type: ignore[list-item]
    return {
        "description": {"text": f"Insert `{fix.text.splitlines()[0]}` after line {fix.line}"
                                + (" (unsafe)" if fix.applicability == "unsafe" else "")},
        "artifactChanges": [{
            "artifactLocation": {"uri": _uri(outcome.display), "uriBaseId": "%SRCROOT%"},
            "replacements": replacements,
        }],
    }


def _plain(markdown: str) -> str:
    return " ".join(markdown.split())


def _sorted(outcomes: Iterable[FileOutcome]) -> List[FileOutcome]:
    return sorted(outcomes, key=lambda o: o.display)


# --------------------------------------------------------------------------
# Diffs
# --------------------------------------------------------------------------


def _lines(text: str) -> List[str]:
    """The lines of ``text`` with their endings, broken where git and patch break them: after
    each ``\\n`` only. Not at a lone ``\\r`` (Python breaks there, git does not: a hunk counted
    the other way is a corrupt patch), nor at the form feeds, ``\\x1c``-``\\x1e``, ``\\x85``
    and ``\\u2028`` that ``str.splitlines`` also breaks at (a string or a comment may hold them)."""
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def text_diff(display: str, old_text: str, new_text: str, context: int = 3) -> str:
    """A patch that ``git apply`` and ``patch -p1`` accept, paths relative to the current folder."""
    old = _lines(old_text)
    new = _lines(new_text)
    # GNU patch takes a name up to the first blank unless a tab ends it (GNU diff writes a tab
    # and a date there); git apply accepts the tab too.
    end = "\t" if any(c.isspace() for c in display) else ""
    lines: List[str] = []
    for line in difflib.unified_diff(old, new, f"a/{display}{end}", f"b/{display}{end}", n=context):
        if line.startswith(("---", "+++")):
            lines.append(line.rstrip("\r\n") + "\n")  # a CRLF file's header lines stay LF
            continue
        if not line.endswith("\n"):
            lines.append(line + "\n\\ No newline at end of file\n")
        else:
            lines.append(line)
    return "".join(lines)


def unified_diff(outcome: FileOutcome) -> str:
    return text_diff(outcome.display, outcome.old_text, outcome.new_text)


def render_diff(outcomes: Sequence[FileOutcome]) -> str:
    return "".join(unified_diff(o) for o in _sorted(outcomes) if o.changed)


_DIFF_COLORS = (("+++", "\x1b[1m"), ("---", "\x1b[1m"), ("@@", "\x1b[36m"), ("+", "\x1b[32m"),
                ("-", "\x1b[31m"), ("\\", "\x1b[2m"))
_RESET = "\x1b[0m"


def colorize_diff(diff: str) -> str:
    """ANSI colors for a terminal: headers bold, hunk ranges cyan, removals red, additions green."""
    out = []
    for line in diff.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        ending = line[len(body):]
        color = next((c for prefix, c in _DIFF_COLORS if body.startswith(prefix)), None)
        out.append(f"{color}{body}{_RESET}{ending}" if color else line)
    return "".join(out)


# --------------------------------------------------------------------------
# The summary
# --------------------------------------------------------------------------


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


def file_uri(folder: Path) -> str:
    """``folder`` as the ``file://`` URI that SARIF's relative paths start from."""
    uri = folder.resolve().as_uri()
    return uri if uri.endswith("/") else uri + "/"

"""Snapshot tests: every case's findings and fixed files, exactly as reviewed.

Regenerate after a deliberate change, then review the diff like code:

    FLUSHGUARD_UPDATE_SNAPSHOTS=1 python -m pytest tests/test_snapshots.py
"""

from __future__ import annotations

import difflib
import os
import shutil
from pathlib import Path
from typing import Dict

import pytest

from codemods import report
from codemods.engine import RunResult, run
from codemods.options import load_options
from casekit import Case, load_cases

UPDATE = os.environ.get("FLUSHGUARD_UPDATE_SNAPSHOTS") == "1"
CASES = load_cases()


def _run(case: Case, unsafe_fixes: bool = False) -> RunResult:
    overrides: Dict[str, object] = {"unsafe-fixes": True} if unsafe_fixes else {}
    return run(load_options([case.input_dir], overrides, cwd=case.input_dir, root=case.input_dir))


def _changed_files(result: RunResult) -> Dict[str, str]:
    return {o.display: o.new_text for o in result.outcomes if o.changed}


def _read_tree(folder: Path) -> Dict[str, str]:
    if not folder.is_dir():
        return {}
    return {
        p.relative_to(folder).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(folder.rglob("*.py"))
        if "__pycache__" not in p.parts
    }


def _write_tree(folder: Path, files: Dict[str, str]) -> None:
    if folder.exists():
        shutil.rmtree(folder)
    for rel, text in files.items():
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8", newline="")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_snapshot(case: Case) -> None:
    result = _run(case)
    assert not result.errors, [(o.display, o.error) for o in result.errors]
    findings = report.render_text(result.findings)
    fixed = _changed_files(result)
    unsafe = _changed_files(_run(case, unsafe_fixes=True))
    unsafe_only = unsafe if unsafe != fixed else {}
    if UPDATE:
        if findings:
            case.findings_file.write_text(findings, encoding="utf-8")
        elif case.findings_file.exists():
            case.findings_file.unlink()
        _write_tree(case.output_dir, fixed) if fixed else shutil.rmtree(case.output_dir, ignore_errors=True)
        if unsafe_only:
            _write_tree(case.output_unsafe_dir, unsafe_only)
        else:
            shutil.rmtree(case.output_unsafe_dir, ignore_errors=True)
        return
    expected_findings = case.findings_file.read_text(encoding="utf-8") if case.findings_file.exists() else ""
    assert findings == expected_findings
    assert fixed == _read_tree(case.output_dir)
    assert unsafe_only == _read_tree(case.output_unsafe_dir)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_verdict_matches_findings(case: Case) -> None:
    """A bug case has a certain, fixable finding; a safe case none; a possible case only possible ones."""
    findings = _run(case).findings
    if case.verdict == "safe":
        assert findings == ()
    elif case.verdict == "bug":
        certain = [f for f in findings if f.certainty == "certain"]
        assert certain, "a bug case must have a certain finding"
        assert all(f.fix is not None for f in certain), [f.message for f in certain if f.fix is None]
    else:
        assert findings and all(f.certainty == "possible" for f in findings)


@pytest.mark.parametrize("case", [c for c in CASES if c.verdict != "safe"],
                         ids=[c.name for c in CASES if c.verdict != "safe"])
def test_fix_is_idempotent_and_only_inserts(case: Case, tmp_path: Path) -> None:
    """A second run changes nothing, and the fix only adds lines (everything else byte for byte)."""
    project = tmp_path / "project"
    shutil.copytree(case.input_dir, project)
    first = run(load_options([project], {"unsafe-fixes": True}, cwd=project, root=project))
    for outcome in first.outcomes:
        if not outcome.changed:
            continue
        old_lines = outcome.old_text.splitlines(keepends=True)
        new_lines = outcome.new_text.splitlines(keepends=True)
        ops = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False).get_opcodes()
        for tag, i1, i2, _, _ in ops:
            # Only insertions; an import line may gain a name (the 1.4 re-select needs select()).
            assert tag in {"equal", "insert"} or all(
                line.lstrip().startswith(("from ", "import ")) for line in old_lines[i1:i2]
            ), (outcome.display, old_lines[i1:i2])
        assert outcome.new_data is not None
        outcome.path.write_bytes(outcome.new_data)
    second = run(load_options([project], {"unsafe-fixes": True}, cwd=project, root=project))
    assert [o.display for o in second.outcomes if o.changed] == []
    assert [f for f in second.findings if f.fix is not None] == []


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_positions_agree(case: Case) -> None:
    """One finding's site line, its message and its fix name the same statement: the message
    says the site's line, the fix follows that statement, and its text goes in after it (after
    the refreshes right after it), never before it."""
    result = _run(case, unsafe_fixes=True)
    texts = {o.display: o.old_text for o in result.outcomes}
    for finding in result.findings:
        assert f"line {finding.site.line}" in finding.message, finding.message
        if finding.fix is None or finding.fix.edit is None:
            continue
        assert finding.fix.line == finding.site.line, (finding.message, finding.fix)
        lines = texts[finding.path].splitlines()
        assert finding.site.line <= finding.fix.edit.before <= len(lines), (finding.message, finding.fix)

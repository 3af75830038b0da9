"""Static and runtime agree: every bug snapshot's crash, explained at run time, is the finding
that `flushguard check` reports.

Each case with `verdict = "bug"` runs through the semantic harness (`semantic.run_scenario`: the
case's own modules on a real `AsyncSession`, the FastAPI ones through the real app) with the
recording on, and its MissingGreenlet is explained. The explanation must correspond to one of
`flushguard check --format json`'s findings on the case's input/, F:

- the site: the same file, `F.site.line` and `F.site.kind` (for a helper that flushes, the call
  of the helper in the function that owns the object, as the static finding reports it);
- the attribute read is one of `F.attributes`, and the rule code is `F.code`;
- the read: for FG001-FG003 the runtime read is the static finding's line (`F.line`) in the same
  file; for FG004 the static finding sits where the object leaves the site's function (the
  `return`) and names its consumer in the message, while the crash happens in the consumer:
  the runtime read is elsewhere (a caller's line, or a response model: `reader`), and the
  consumer it names (`reader`, else the read's `path:line`) is the one the static message names;
- the object: the same variable, or the list that holds it when the static fix loops over that
  list (the static finding may name the comprehension variable that read it);
- the fix: the same text, with two legitimate differences. After a statement that expired the
  whole object (commit, rollback, `expire(obj)`, `expire_all()`) the static fix names the
  attributes the code goes on to read, which the runtime cannot know: it names every column
  the statement expired (a superset, still one SELECT). A project detected as SQLAlchemy 1.4 gets
  the static 1.4 fix (a `selectinload` re-select) while the runtime, on the SQLAlchemy that runs
  the tests, names the relationship in `refresh()`.

No bug case is left out: the runtime explains every one.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path
from typing import Iterator

import pytest
from click.testing import CliRunner

import semantic
from casekit import Case, load_cases, materialize
from codemods.cli import main
from codemods.runtime import Explanation, explain, record
from test_semantic import case_settings

BUG_CASES = [case for case in load_cases() if case.verdict == "bug"]
WHOLE_OBJECT_EXPIRY = re.compile(
    r"`(commit|rollback|expire|expire_all)\(\)` expires every attribute"
)


@contextlib.contextmanager
def working_directory(path: Path) -> Iterator[None]:
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def static_findings(case: Case) -> list[dict]:
    """`flushguard check --format json` on the case's input/ (in-process: the same command)."""
    with working_directory(case.input_dir):
        result = CliRunner().invoke(
            main, ["check", "--format", "json", "--no-cache", "--jobs", "1", "--quiet", "."]
        )
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)["findings"]


@contextlib.contextmanager
def mappers_kept_until_explained() -> Iterator[list]:
    """The harness forgets a case's mapped classes as the scenario ends; the explanation reads
    the live mapper, so the forgetting waits until the test has explained the crash."""
    deferred: list = []
    forget = semantic._forget_mapped_classes
    semantic._forget_mapped_classes = deferred.append
    try:
        yield deferred
    finally:
        semantic._forget_mapped_classes = forget
        for modules in deferred:
            forget(modules)


def runtime_explanation(case: Case, tmp_path: Path) -> tuple[Explanation, Path]:
    project = materialize(case, "original", tmp_path / "original")
    record()
    with mappers_kept_until_explained():
        outcome = semantic.run_scenario(project, case, case_settings(case), "sqlite")
        assert outcome.kind in semantic.CRASHES, outcome.describe()
        assert outcome.exception is not None
        explanation = explain(outcome.exception)
    assert explanation is not None, f"no explanation for:\n{outcome.traceback}"
    assert explanation.site is not None, explanation.report()
    return explanation, project


def relative(path: str, project: Path) -> str:
    return Path(path).resolve().relative_to(project.resolve()).as_posix()


def fix_attributes(fix: str) -> list[str]:
    found = re.search(r"\[([^\]]*)\]", fix)
    return re.findall(r'"([^"]+)"', found.group(1)) if found else []


def matching_finding(explanation: Explanation, site_path: str, findings: list[dict]) -> dict:
    assert explanation.site is not None
    candidates = [
        f for f in findings
        if f["path"] == site_path
        and f["site"]["line"] == explanation.site.line
        and explanation.attribute in f["attributes"]
    ]
    assert candidates, (
        f"runtime: {explanation.code} {explanation.target} unloaded by the {explanation.site.kind}"
        f" at {site_path}:{explanation.site.line}; static findings:\n"
        + "\n".join(json.dumps(f, sort_keys=True) for f in findings)
    )
    return candidates[0]


#: Bug cases where the runtime's explanation still differs from the static finding, and why.
#: Each is a strict xfail: when the runtime learns the shape, the test says so.
KNOWN_DISAGREEMENTS = {
    "fg001_factory_begin_block_mysql": "the commit that ends `async with factory.begin()` runs "
    "in __aexit__: the runtime cannot place it in the project's code",
    "fg003_loop_over_dict_items": "the runtime names the comprehension's variable, not the dict "
    "whose values() the static fix loops over",
    "fg003_rollback_on_the_error_path": "the failed flush already expired the objects (SQLAlchemy "
    "rolls the transaction back inside flush()); the runtime names it, the static finding names "
    "the explicit rollback() after which the fix can run",
    "fg004_generic_repository_create_returns_its_argument": "an object passed as it is built "
    "(repo.create(Task(...))) has no owner frame: the runtime places the site in the helper",
}


@pytest.mark.parametrize("case", [
    pytest.param(case, marks=pytest.mark.xfail(reason=KNOWN_DISAGREEMENTS[case.name], strict=True))
    if case.name in KNOWN_DISAGREEMENTS else case for case in BUG_CASES
], ids=[case.name for case in BUG_CASES])
def test_runtime_explanation_is_the_static_finding(case: Case, tmp_path: Path) -> None:
    findings = static_findings(case)
    explanation, project = runtime_explanation(case, tmp_path)
    assert explanation.site is not None
    site_path = relative(explanation.site.path, project)
    finding = matching_finding(explanation, site_path, findings)
    report = explanation.report()

    assert explanation.code == finding["code"], report
    assert explanation.site.kind == finding["site"]["kind"], report

    if finding["code"] == "FG004":
        read_elsewhere = explanation.read is None or not (
            relative(explanation.read.path, project) == finding["path"]
            and explanation.read.function == explanation.site.function
        )
        assert read_elsewhere, report
        consumer = explanation.reader or (
            f"{relative(explanation.read.path, project)}:{explanation.read.line}"
            if explanation.read else ""
        )
        assert consumer and consumer in finding["message"], (report, finding["message"])
    else:
        assert explanation.read is not None, report
        read_at = f"{relative(explanation.read.path, project)}:{explanation.read.line}"
        # Read where the finding is, or in a function the object is passed to: the finding is
        # at the call and names that function's line.
        assert read_at == f"{finding['path']}:{finding['line']}" or (
            finding["reader"] and read_at in finding["reader"]), (report, finding["reader"])

    fix = finding["fix"]
    assert fix is not None and explanation.fix is not None, report
    if explanation.object != finding["object"]:
        assert f" in {explanation.object}:" in fix["text"], (report, fix["text"])
    if WHOLE_OBJECT_EXPIRY.search(explanation.reason):
        assert set(fix_attributes(fix["text"])) <= set(fix_attributes(explanation.fix)), report
        assert fix["text"].split("[")[0] == explanation.fix.split("[")[0], report
    elif case_settings(case).sqlalchemy == "1.4" and "selectinload" in fix["text"]:
        assert explanation.fix.startswith("await ") and "refresh(" in explanation.fix, report
    else:
        assert explanation.fix == fix["text"], report


def test_every_bug_case_is_compared() -> None:
    """The comparison above covers the snapshot cases that claim a bug, all of them."""
    names = {case.name for case in BUG_CASES}
    assert len(names) == len([c for c in load_cases() if c.verdict == "bug"]) > 50
    assert {n.split("_")[0] for n in names} >= {"fg001", "fg002", "fg003", "fg004", "shape"}


"""Every snapshot case, executed on real databases: its verdict must be what really happens.

The snapshot tests check that flushguard's output matches the reviewed files; these check that
the reviewed files are *right*. A "bug" case must crash with MissingGreenlet as the user wrote
it and run clean once fixed; a "safe" case must run clean untouched; a "possible" case must
crash and run clean after `fix --unsafe-fixes`. Each runs on SQLite and on PostgreSQL, with the
switches the case's detected settings imply (MySQL's missing RETURNING, 1.4's eager_defaults,
expire_on_commit): see semantic.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from casekit import Case, Variant, load_cases, materialize
from semantic import CRASHES, DATABASES, Outcome, run_scenario
from codemods.types import Settings

CASES = load_cases()

REGENERATE = (
    "regenerate snapshots with "
    "FLUSHGUARD_UPDATE_SNAPSHOTS=1 python -m pytest tests/test_snapshots.py"
)


def cases_with_verdict(verdict: str) -> list:
    """(case, database) params with ids like `fg001_server_default_mysql[sqlite]`."""
    return [
        pytest.param(
            case,
            database,
            id=f"{case.name}[{database}]",
            marks=[pytest.mark.postgresql] if database == "postgresql" else [],
        )
        for case in CASES
        if case.verdict == verdict
        for database in DATABASES
    ]


def case_settings(case: Case) -> Settings:
    """The settings flushguard detects for the case's input/, `[tool.flushguard]` included."""
    from codemods.settings import build_settings, find_config, load_config

    config_path = find_config(case.input_dir)
    config = load_config(config_path) if config_path is not None else {}
    return build_settings(case.input_dir, config)


def run_variant(case: Case, variant: Variant, database: str, tmp_path: Path) -> Outcome:
    project = materialize(case, variant, tmp_path / variant)
    return run_scenario(project, case, case_settings(case), database)


def explain(case: Case, variant: str, expected: str, outcome: Outcome) -> str:
    return (
        f"{case.name} ({case.description.strip()})\n"
        f"{variant}: expected {expected}, got {outcome.describe()}\n"
        f"{case.scenario_text}"
    )


@pytest.mark.parametrize("case, database", cases_with_verdict("bug"), indirect=["database"])
def test_bug_case_crashes_until_fixed(case: Case, database: str, tmp_path: Path) -> None:
    original = run_variant(case, "original", database, tmp_path)
    expected = " or ".join(CRASHES)
    assert original.kind in CRASHES, explain(case, "original", expected, original)

    if not case.has_output:
        pytest.fail(f"{case.name}: no output/: {REGENERATE}", pytrace=False)
    fixed = run_variant(case, "fixed", database, tmp_path)
    assert fixed.kind == "ok", explain(case, "fixed", "ok", fixed)


@pytest.mark.parametrize("case, database", cases_with_verdict("safe"), indirect=["database"])
def test_safe_case_runs_clean_and_is_left_alone(case: Case, database: str, tmp_path: Path) -> None:
    original = run_variant(case, "original", database, tmp_path)
    assert original.kind == "ok", explain(case, "original", "ok", original)

    for folder in (case.output_dir, case.output_unsafe_dir):
        if folder.is_dir():
            pytest.fail(f"{case.name}: a safe case must have no {folder.name}/", pytrace=False)


@pytest.mark.parametrize("case, database", cases_with_verdict("possible"), indirect=["database"])
def test_possible_case_crashes_until_unsafe_fixed(
    case: Case, database: str, tmp_path: Path
) -> None:
    original = run_variant(case, "original", database, tmp_path)
    expected = " or ".join(CRASHES)
    assert original.kind in CRASHES, explain(case, "original", expected, original)

    if not case.has_unsafe_output:
        pytest.fail(f"{case.name}: no output-unsafe/: {REGENERATE}", pytrace=False)
    fixed = run_variant(case, "unsafe-fixed", database, tmp_path)
    assert fixed.kind == "ok", explain(case, "unsafe-fixed", "ok", fixed)

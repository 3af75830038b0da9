"""The pytest plugin, through real pytest runs of a real project.

`tests/fixtures/runtime_project` is a small FastAPI + async SQLAlchemy shop whose checks each
fail with MissingGreenlet in one way (check_crashes.py), or fail for other reasons or pass
(check_clean.py). pytester runs them in a subprocess, where the plugin is loaded as a user gets
it: from the `pytest11` entry point of the installed distribution. On SQLite (aiosqlite) and on
PostgreSQL (asyncpg); the INSERT cases run with the dialect's RETURNING flags off, MySQL's
profile, as the semantic tests do.

Each report is compared line by line with what it must say: the object and attribute, the
statement (path:line, kind) that left it unloaded and why, the rule code, where it was read and
the refresh that fixes it.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import sqlalchemy

pytest_plugins = ["pytester"]

PROJECT = Path(__file__).resolve().parent / "fixtures" / "runtime_project"

SQLALCHEMY_21 = tuple(int(p) for p in sqlalchemy.__version__.split(".")[:2]) >= (2, 1)

#: Every column of Order, in mapper order (a whole-object expiry names them all).
ORDER_COLUMNS = '["id", "customer_id", "status", "total", "created_at", "updated_at"]'


def _no_returning(database: str) -> str:
    return f"INSERT..RETURNING is off on this {database} dialect, as on MySQL"


#: check name -> the report, with {raised} (how the driver surfaces MissingGreenlet) and
#: {database} ("sqlite" or "postgresql") to fill in.
EXPECTED = {
    "test_insert_server_default_without_returning": """\
MissingGreenlet: Order.created_at of `order` (id=2) was not loaded ({raised})
  unloaded by: the flush at shop/services.py:18 `await self.db.flush()` in place_order()
  why:         FG001 `created_at` has a server default that the INSERT did not fetch ({no_returning})
  read at:     shop/services.py:19 in place_order()
  fix:         after shop/services.py:18 add: await self.db.refresh(order, ["created_at"])""",
    "test_update_onupdate_read_by_response_model": """\
MissingGreenlet: Order.updated_at of `order` (id=1) was not loaded (ResponseValidationError)
  unloaded by: the flush at shop/services.py:29 `await self.db.flush()` in update_status()
  why:         FG004 `updated_at` has a SQL-expression onupdate: the UPDATE expires it
  read by:     PUT /orders/{{order_id}} -> OrderOut.updated_at
  fix:         after shop/services.py:29 add: await self.db.refresh(order, ["updated_at"])""",
    "test_relationship_of_a_new_object": """\
MissingGreenlet: Customer.orders of `customer` (id=2) was not loaded ({raised})
  unloaded by: the flush at shop/services.py:63 `await self.db.flush()` in register()
  why:         FG002 `orders` was never assigned before the flush, so it is not loaded
  read at:     shop/services.py:64 in register()
  fix:         after shop/services.py:63 add: await self.db.refresh(customer, ["orders"])""",
    "test_read_after_commit": f"""\
MissingGreenlet: Order.id of `order` (id=1) was not loaded ({{raised}})
  unloaded by: the commit at shop/services.py:41 `await self.db.commit()` in confirm()
  why:         FG003 `commit()` expires every attribute (expire_on_commit=True)
  read at:     shop/services.py:42 in confirm()
  fix:         after shop/services.py:41 add: await self.db.refresh(order, {ORDER_COLUMNS})""",
    "test_read_after_rollback": f"""\
MissingGreenlet: Order.id of `order` (id=1) was not loaded ({{raised}})
  unloaded by: the rollback at shop/services.py:47 `await self.db.rollback()` in cancel()
  why:         FG003 `rollback()` expires every attribute
  read at:     shop/services.py:48 in cancel()
  fix:         after shop/services.py:47 add: await self.db.refresh(order, {ORDER_COLUMNS})""",
    "test_read_after_expire": """\
MissingGreenlet: Order.total of `order` (id=1) was not loaded ({raised})
  unloaded by: the expire at shop/services.py:52 `self.db.expire(order, ["total"])` in recount()
  why:         FG003 `expire()` expires it
  read at:     shop/services.py:53 in recount()
  fix:         after shop/services.py:52 add: await self.db.refresh(order, ["total"])""",
    "test_helper_that_flushes": """\
MissingGreenlet: Order.created_at of `order` (id=2) was not loaded ({raised})
  unloaded by: the flush at shop/services.py:23 `await self._save(order)` in open_order()
               (flush() ran at shop/services.py:13 in _save())
  why:         FG004 `created_at` has a server default that the INSERT did not fetch ({no_returning})
  read at:     check_crashes.py:37 in open_and_show()
  fix:         after shop/services.py:23 add: await self.db.refresh(order, ["created_at"])""",
    "test_helper_read_by_response_model": """\
MissingGreenlet: Order.created_at of `order` (id=2) was not loaded (ResponseValidationError)
  unloaded by: the flush at shop/services.py:23 `await self._save(order)` in open_order()
               (flush() ran at shop/services.py:13 in _save())
  why:         FG004 `created_at` has a server default that the INSERT did not fetch ({no_returning})
  read by:     POST /orders -> OrderOut.created_at
  fix:         after shop/services.py:23 add: await self.db.refresh(order, ["created_at"])""",
    "test_schema_validation_after_update": """\
MissingGreenlet: Order.updated_at of `order` (id=1) was not loaded (ValidationError)
  unloaded by: the flush at shop/services.py:35 `await self.db.flush()` in receipt()
  why:         FG001 `updated_at` has a SQL-expression onupdate: the UPDATE expires it
  read at:     shop/services.py:36 in receipt()
  read by:     OrderOut.updated_at
  fix:         after shop/services.py:35 add: await self.db.refresh(order, ["updated_at"])""",
}

#: The source each report's site line must hold (so a changed fixture fails loudly here).
SITE_LINES = {
    18: "await self.db.flush()",
    23: "await self._save(order)",
    29: "await self.db.flush()",
    35: "await self.db.flush()",
    41: "await self.db.commit()",
    47: "await self.db.rollback()",
    52: 'self.db.expire(order, ["total"])',
    63: "await self.db.flush()",
}

_runs: dict[str, str] = {}


def raised_as(database: str) -> str:
    """How a read's MissingGreenlet reaches the test (`sqlalchemy-truth.md` §1)."""
    if database == "sqlite" and SQLALCHEMY_21:
        return "StatementError"
    return "MissingGreenlet"


def run_pytest(pytester: pytest.Pytester, *args: str, timeout: float = 300) -> pytest.RunResult:
    """pytest in a subprocess, as a user runs it (hypothesis's plugin, slow to import and not
    needed here, left out)."""
    return pytester.runpytest_subprocess(
        *args, "-p", "no:hypothesispytest", "-p", "no:cacheprovider", timeout=timeout
    )


def copy_project(pytester: pytest.Pytester) -> None:
    shutil.copytree(PROJECT, pytester.path, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__"))


def use_database(monkeypatch: pytest.MonkeyPatch, database: str) -> None:
    from semantic import postgresql_url

    monkeypatch.setenv("SHOP_TEST_DATABASE", database)
    monkeypatch.setenv("FLUSHGUARD_TEST_PG_URL", postgresql_url())


def crash_run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, database: str) -> str:
    """The output of check_crashes.py on `database` (run once per database, then reused)."""
    if database not in _runs:
        copy_project(pytester)
        use_database(monkeypatch, database)
        result = run_pytest(pytester, "check_crashes.py", "--tb=short", timeout=600)
        result.assert_outcomes(failed=len(EXPECTED))
        _runs[database] = result.stdout.str()
    return _runs[database]


def flushguard_sections(output: str) -> dict[str, str]:
    """check name -> the text of its `flushguard` report section."""
    sections = {}
    parts = re.split(r"^_{3,} (\w+) _{3,}$", output, flags=re.M)
    for name, body in zip(parts[1::2], parts[2::2]):
        found = re.search(r"^-+ flushguard -+\n(.*?)(?=^={3,}|\Z)", body, flags=re.M | re.S)
        if found:
            sections[name] = found.group(1).rstrip("\n")
    return sections


def test_site_lines_of_the_project_are_what_the_reports_name() -> None:
    lines = (PROJECT / "shop" / "services.py").read_text().splitlines()
    for number, statement in SITE_LINES.items():
        assert lines[number - 1].strip() == statement, f"shop/services.py:{number}"


@pytest.mark.parametrize("check", sorted(EXPECTED))
def test_failure_report_names_attribute_site_rule_read_and_fix(
    check: str, database: str, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = crash_run(pytester, monkeypatch, database)
    sections = flushguard_sections(output)
    assert check in sections, f"no flushguard section for {check}:\n{output[-3000:]}"
    expected = EXPECTED[check].format(
        raised=raised_as(database), no_returning=_no_returning(database)
    )
    assert sections[check] == expected


def test_every_crash_check_gets_exactly_one_section(
    database: str, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = crash_run(pytester, monkeypatch, database)
    assert sorted(flushguard_sections(output)) == sorted(EXPECTED)
    assert output.count("- flushguard -") == len(EXPECTED)


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_original_exception_and_traceback_are_kept(
    database: str, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plugin adds a section; the exception, its traceback and the outcome are pytest's."""
    copy_project(pytester)
    use_database(monkeypatch, database)
    check = "check_crashes.py::test_read_after_commit"
    with_plugin = run_pytest(pytester, check, "--tb=short")
    without = run_pytest(pytester, check, "--tb=short", "-p", "no:flushguard")
    with_plugin.assert_outcomes(failed=1)
    without.assert_outcomes(failed=1)
    shown, plain = with_plugin.stdout.str(), without.stdout.str()
    assert "- flushguard -" in shown and "- flushguard -" not in plain
    raised = f"sqlalchemy.exc.{raised_as(database)}"
    for output in (shown, plain):
        assert f"E   {raised}" in output
        assert "shop/services.py:42: in confirm" in output
    # Everything the run without the plugin shows, the run with it shows too, in order.
    assert _failure_text(plain) in _failure_text(shown).replace(_section_text(shown), "")


def test_run_without_missing_greenlet_prints_nothing_extra(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Passing checks, a plain assertion and a database error: no section, the same output."""
    copy_project(pytester)
    use_database(monkeypatch, "sqlite")
    with_plugin = run_pytest(pytester, "check_clean.py")
    without = run_pytest(pytester, "check_clean.py", "-p", "no:flushguard")
    with_plugin.assert_outcomes(passed=1, failed=2)
    without.assert_outcomes(passed=1, failed=2)
    assert "flushguard" not in _comparable(with_plugin.stdout.str())
    assert _comparable(with_plugin.stdout.str()) == _comparable(without.stdout.str())


def test_project_without_sqlalchemy_never_imports_it(pytester: pytest.Pytester) -> None:
    """The plugin is on in every pytest run once flushguard is installed: it must not import
    SQLAlchemy (or LibCST) on its own."""
    pytester.makepyfile(
        test_plain="""
        import sys

        def test_a_failure_without_sqlalchemy():
            assert 1 == 2

        def test_no_sqlalchemy_in_this_process(request):
            assert request.config.pluginmanager.has_plugin("flushguard")
            assert not [m for m in sys.modules if m.split(".")[0] in ("sqlalchemy", "libcst")]
        """
    )
    result = run_pytest(pytester)
    result.assert_outcomes(passed=1, failed=1)
    assert "flushguard" not in _comparable(result.stdout.str())


def test_recording_starts_with_the_test_after_a_late_import(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_late="""
        from codemods.runtime import is_recording

        def test_imports_sqlalchemy_in_its_body():
            assert not is_recording()
            import sqlalchemy.orm  # noqa: F401

        def test_next_test_records():
            assert is_recording()
        """
    )
    run_pytest(pytester).assert_outcomes(passed=2)


def _section_text(output: str) -> str:
    found = re.search(r"^-+ flushguard -+\n.*?(?=^={3,}|^_{3,})", output, flags=re.M | re.S)
    return found.group(0) if found else ""


def _failure_text(output: str) -> str:
    found = re.search(r"^={3,} FAILURES ={3,}\n(.*?)^={3,} short test summary", output,
                      flags=re.M | re.S)
    assert found, output
    return found.group(1)


def _comparable(output: str) -> str:
    """The output without what differs between any two runs (plugins, timing, addresses)."""
    lines = [
        line for line in output.splitlines()
        if not line.startswith(("plugins:", "platform ", "rootdir:", "configfile:", "cachedir:"))
    ]
    text = re.sub(r" in [\d.]+s ", " in Ns ", "\n".join(lines))
    return re.sub(r"0x[0-9a-f]+", "0x...", text)


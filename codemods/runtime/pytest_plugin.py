"""The pytest plugin: a test that fails with MissingGreenlet gets a `flushguard` report section.

Installed with flushguard (entry point `pytest11`, name `flushguard`) and on by default;
`-p no:flushguard` turns it off. It records (see `codemods.runtime.recorder`) from the moment
SQLAlchemy's ORM is imported: at configuration when a conftest already imported it, else once
collection has imported the test modules, else before the first test that runs after the import.
A project that never imports SQLAlchemy never has it imported by the plugin.

When a test's setup, call or teardown fails, the exception is explained (`explain`) and, when
it carries a MissingGreenlet, the report gains a section:

    ---------------------------- flushguard ----------------------------
    MissingGreenlet: Order.created_at of `order` (id=1) was not loaded (StatementError)
      unloaded by: the flush at shop/services.py:18 `await self.db.flush()` in place_order()
      why:         FG001 `created_at` has a server default that the INSERT did not fetch (...)
      read at:     tests/test_orders.py:12 in test_place_order()
      fix:         after shop/services.py:18 add: await self.db.refresh(order, ["created_at"])

The exception, its traceback and the outcome are left exactly as they were.
"""

from __future__ import annotations

import sys
from typing import Any, Generator

import pytest

SECTION = "flushguard"


def _start_if_orm_imported() -> None:
    if "sqlalchemy.orm" in sys.modules:
        from codemods.runtime import is_recording, record

        if not is_recording():
            record()


#: How many pytest configurations are active in this process (pytester nests them).
_configured = 0


def pytest_configure(config: pytest.Config) -> None:
    global _configured
    _configured += 1
    _start_if_orm_imported()


def pytest_collection_finish(session: pytest.Session) -> None:
    _start_if_orm_imported()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _start_if_orm_imported()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo
) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is None or not report.failed:
        return
    from codemods.runtime import explain

    try:
        explanation = explain(call.excinfo.value)
    except Exception as exc:  # never turn a failing test into an error of the plugin's own
        report.sections.append((SECTION, f"flushguard could not explain this failure: {exc!r}"))
        return
    if explanation is not None:
        report.sections.append((SECTION, explanation.report()))


def pytest_unconfigure(config: pytest.Config) -> None:
    global _configured
    _configured -= 1
    if _configured == 0:  # a pytest run in-process inside another (pytester) leaves it on
        from codemods.runtime import stop_recording

        stop_recording()

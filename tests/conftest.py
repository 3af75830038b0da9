"""Shared fixtures: the `database` a semantic test runs on, and the PostgreSQL probe.

A test that takes a `database` argument runs once per database ("sqlite", "postgresql")
unless it parametrizes `database` itself (with `indirect=["database"]`, as test_semantic.py
does to get ids like `case-name[sqlite]`). The PostgreSQL runs carry the `postgresql` marker,
so `-m "not postgresql"` leaves them out.

PostgreSQL is probed once per session. Locally an unreachable server skips those runs, with
the way to get one; under CI (`CI=true`) it fails them, because a CI run that skipped the
real-database half would report green having checked nothing on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sys
from pathlib import Path
from typing import Optional

import pytest

# The test helpers (casekit, semantic) import each other by plain name.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from semantic import DATABASES, postgresql_url  # noqa: E402

PROBE_TIMEOUT_SECONDS = 2.0


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "postgresql: runs against a real PostgreSQL server (FLUSHGUARD_TEST_PG_URL)",
    )


def database_params(database: str) -> "pytest.ParameterSet":
    """`database` as a pytest.param carrying the `postgresql` marker where it applies."""
    marks = [pytest.mark.postgresql] if database == "postgresql" else []
    return pytest.param(database, marks=marks, id=database)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "database" not in metafunc.fixturenames:
        return
    for marker in metafunc.definition.iter_markers("parametrize"):
        argnames = marker.args[0] if marker.args else marker.kwargs.get("argnames", ())
        if isinstance(argnames, str):
            argnames = [name.strip() for name in argnames.split(",")]
        if "database" in argnames:
            return  # the test chose its own databases
    metafunc.parametrize("database", [database_params(d) for d in DATABASES], indirect=True)


@pytest.fixture
def database(request: pytest.FixtureRequest) -> str:
    """The database name ("sqlite" or "postgresql"), once its server is known to answer."""
    name = request.param
    if name == "postgresql":
        problem = postgresql_problem()
        if problem is not None:
            message = (
                f"PostgreSQL not reachable at {postgresql_url()} ({problem}); "
                "set FLUSHGUARD_TEST_PG_URL or run .ci/run"
            )
            if os.environ.get("CI") == "true":
                pytest.fail(message, pytrace=False)
            pytest.skip(message)
    return name


@functools.cache
def postgresql_problem() -> Optional[str]:
    """None when the test server accepts a connection, else why not (probed once per session)."""
    from sqlalchemy.engine import make_url

    url = make_url(postgresql_url()).set(drivername="postgresql")
    dsn = url.render_as_string(hide_password=False)

    async def probe() -> None:
        import asyncpg

        connection = await asyncpg.connect(dsn, timeout=PROBE_TIMEOUT_SECONDS)
        await connection.close()

    try:
        asyncio.run(asyncio.wait_for(probe(), PROBE_TIMEOUT_SECONDS + 1))
    except Exception as exc:  # any failure means "not usable": refused, timeout, auth, no db
        return f"{type(exc).__name__}: {exc}".strip().rstrip(":")
    return None

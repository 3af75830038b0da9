"""Run a snapshot case's scenario against a real database and say whether it raised MissingGreenlet.

This is the ground truth behind the snapshots: a "bug" case must really crash before the fix
and really run after it. Nothing is mocked: the case's own modules are imported, their tables
created on a real `create_async_engine` (aiosqlite file, or a fresh PostgreSQL schema through
asyncpg), and the scenario's `call` is awaited in a fresh `AsyncSession`, exactly as application
code would be. An HTTP scenario (`app` + `request`) instead imports the project's own ASGI app
(FastAPI) and sends it the request through `httpx.ASGITransport`: the project's own engine is the
test engine (see `_imported_project`), so its own session dependency, with its own
`expire_on_commit`, its routers, services, schemas and response models all run for real, and the
server-side exception behind a 500 is what gets classified.

The project's detected settings are applied as the switches that reproduce them on the
database at hand (see `docs/semantics.md#n-not-measured` for why these are faithful):

- backend "mysql": the dialect's RETURNING flags are turned off after the first connect, which
  is MySQL's capability profile; the ORM then expires server-generated values as on MySQL.
  Backend "unknown" gets the same profile: the project may run on MySQL, where the fewest
  values are fetched, so a "safe" case must hold there and a "possible" one crashes there;
- SQLAlchemy "1.4": every mapper left at `eager_defaults="auto"` gets 1.4's default `False`;
- `expire_on_commit` goes to the `async_sessionmaker`.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import gc
import importlib
import inspect
import itertools
import os
import secrets
import shutil
import sys
import tempfile
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator, Literal, Mapping, Optional

import sqlalchemy.ext.asyncio
import sqlalchemy.ext.asyncio.engine
from sqlalchemy import MetaData, Table, text
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import MissingGreenlet, StatementError
from sqlalchemy.orm.exc import DetachedInstanceError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Mapper, registry
from sqlalchemy.pool import NullPool

from casekit import Case, seed_function_source
from codemods.types import Settings

Database = Literal["sqlite", "postgresql"]
DATABASES: tuple[str, ...] = ("sqlite", "postgresql")

DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:54329/flushguard_test"

OutcomeKind = Literal["ok", "missing_greenlet", "detached", "error"]

#: The outcomes that are the crash a finding predicts: MissingGreenlet, or, once the session
#: closed (the end of `async with factory() as s:` / `factory.begin()`), DetachedInstanceError
#: for the same unloaded attribute (docs/semantics.md, session blocks).
CRASHES: tuple[str, ...] = ("missing_greenlet", "detached")

#: The dialect flags SQLAlchemy derives from the server; all False on MySQL (no RETURNING).
MYSQL_RETURNING_FLAGS: tuple[str, ...] = (
    "insert_returning",
    "update_returning",
    "delete_returning",
    "insert_executemany_returning",
)

#: MissingGreenlet's text in every supported version (1.4/2.0 go on `await_only()`, 2.1 `await_()`).
_MISSING_GREENLET_TEXT = "greenlet_spawn has not been called"

#: aiosqlite's inner `Connection.cursor()` coroutine, left unstarted when MissingGreenlet
#: interrupts SQLAlchemy's `await_(cursor.__aenter__())`. See `_close_abandoned_coroutines`.
_AIOSQLITE_CURSOR_LEAK = r"coroutine 'Connection\.cursor' was never awaited"

_SEED_FUNCTION = "__flushguard_seed__"
_schema_numbers = itertools.count(1)

#: Where an HTTP scenario's requests go (any host: the transport never opens a socket).
_BASE_URL = "http://testserver"


def postgresql_url() -> str:
    """The asyncpg URL of the test server: `FLUSHGUARD_TEST_PG_URL`, or `.ci/run`'s default."""
    return os.environ.get("FLUSHGUARD_TEST_PG_URL") or DEFAULT_PG_URL


@dataclass(frozen=True)
class Outcome:
    """How one scenario run ended.

    `phase` says where: "setup" (database, import, tables), "seed", "call" (a call scenario),
    "request" (an HTTP scenario), or "timeout". Only a MissingGreenlet raised by the call or
    the request counts as "missing_greenlet": one raised while importing or seeding means the
    case is broken, not that the code under test is.

    For a request, `status` is the response's status code (None when the app raised instead
    of answering) and `traceback` holds the server-side traceback, or the response body when
    the app answered with an error status without raising.
    """

    kind: OutcomeKind
    phase: str = "call"
    exception: Optional[BaseException] = None
    traceback: str = ""
    status: Optional[int] = None

    def describe(self) -> str:
        """One line for "ok"; the kind, phase and full traceback otherwise (for assert messages)."""
        if self.kind == "ok":
            return "ok"
        return f"{self.kind} during {self.phase}:\n{self.traceback}"


def behaves_like_mysql(settings: Settings) -> bool:
    """Whether a scenario runs without RETURNING: on MySQL, and when the backend is unknown.

    Without RETURNING the ORM leaves the most attributes unloaded
    (`docs/semantics.md#i2-server-generated-values`), so an unknown backend is run as the worst
    backend it could be.
    """
    return settings.backend in ("mysql", "unknown")


def crash_kind(exc: BaseException) -> OutcomeKind:
    """"missing_greenlet", "detached" (an unloaded attribute read once the session closed) or
    "error" (anything else: the case is broken, not the code under test)."""
    if is_missing_greenlet(exc):
        return "missing_greenlet"
    if isinstance(exc, DetachedInstanceError) and "cannot proceed" in str(exc):
        return "detached"
    return "error"


def is_missing_greenlet(exc: BaseException) -> bool:
    """True for MissingGreenlet however the driver or the web framework surfaces it.

    asyncpg raises it bare; aiosqlite on 2.1 and the MySQL drivers wrap it in StatementError,
    whose `.orig` is the MissingGreenlet
    (`docs/semantics.md#e1-the-exception-per-driver-and-version`,
    `docs/semantics.md#e2-messages-and-catching-it`); a pydantic schema reading
    the attribute turns it into a ValidationError, and FastAPI serializing a `response_model`
    into a ResponseValidationError; a `field_serializer` reading it into a
    PydanticSerializationError. An exception group (anyio task groups, Starlette middleware)
    or an explicit `raise ... from` counts when a member or the cause is one.
    """
    pending: list[Optional[BaseException]] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if _is_missing_greenlet_itself(current):
            return True
        pending.extend(_group_members(current))
        pending.append(current.__cause__)
    return False


def _group_members(exc: BaseException) -> list[BaseException]:
    """The members of an exception group: the builtin one (3.11+) or the `exceptiongroup`
    backport that anyio raises on 3.10, told apart by shape rather than by class."""
    members = getattr(exc, "exceptions", None)
    if isinstance(members, (tuple, list)) and all(
        isinstance(member, BaseException) for member in members
    ):
        return list(members)
    return []


def _is_missing_greenlet_itself(exc: BaseException) -> bool:
    if isinstance(exc, MissingGreenlet):
        return True
    if isinstance(exc, StatementError):
        return isinstance(exc.orig, MissingGreenlet) or _MISSING_GREENLET_TEXT in str(exc)
    return _validation_error_from_missing_greenlet(exc)


def _validation_error_from_missing_greenlet(exc: BaseException) -> bool:
    """A pydantic (or FastAPI response) validation error that a MissingGreenlet caused.

    `Schema.model_validate(obj)` with `from_attributes` catches the exception raised by
    `getattr(obj, field)` and reports it as a `get_attribute_error`, and FastAPI's
    ResponseValidationError carries the same error details; the MissingGreenlet itself is
    gone, only its text is left in the details' message. A serialization error has no details,
    only its message. Only pydantic's and FastAPI's own errors are read this way: the text in
    any other exception's message proves nothing.
    """
    module = type(exc).__module__ or ""
    if not module.startswith(("pydantic", "fastapi", "starlette")):
        return False
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            details = list(errors())
        except Exception:
            details = []
        if any(
            isinstance(detail, Mapping) and _MISSING_GREENLET_TEXT in str(detail.get("msg", ""))
            for detail in details
        ):
            return True
    try:
        return _MISSING_GREENLET_TEXT in str(exc)
    except Exception:
        return False


def run_scenario(
    project: Path,
    case: Case,
    settings: Settings,
    database: Database,
    *,
    timeout: float = 120.0,
) -> Outcome:
    """Import `case.module` from `project`, seed, await `case.call` (or send `case.request` to
    the app `case.app`), and classify the result.

    Runs its own event loop (`asyncio.run`), so it must be called from synchronous code.
    Every module loaded from `project` is removed from `sys.modules` afterwards, so the next
    case may use the same module names.
    """
    if database not in DATABASES:
        raise ValueError(f"unknown database {database!r}; expected one of {', '.join(DATABASES)}")
    project = Path(project).resolve()

    async def bounded() -> Outcome:
        try:
            return await asyncio.wait_for(_scenario(project, case, settings, database), timeout)
        except asyncio.TimeoutError as exc:
            return _outcome("error", "timeout", exc)

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", _AIOSQLITE_CURSOR_LEAK, RuntimeWarning)
        outcome = asyncio.run(bounded())
        gc.collect()  # finalize the leaked coroutines while the filter is on
    return outcome


async def _scenario(project: Path, case: Case, settings: Settings, database: Database) -> Outcome:
    async with _database_url(database) as (url, connect_args):
        engine = create_async_engine(url, connect_args=connect_args)
        try:
            return await _run_on_engine(engine, project, case, settings)
        finally:
            await engine.dispose()


async def _run_on_engine(
    engine: AsyncEngine, project: Path, case: Case, settings: Settings
) -> Outcome:
    try:
        async with engine.connect():
            pass  # the first connect runs dialect.initialize(), which sets the RETURNING flags
        if behaves_like_mysql(settings):
            _behave_like_mysql(engine)
    except Exception as exc:
        return _outcome("error", "setup", exc)

    importable = project / case.pythonpath if case.pythonpath else project
    with _imported_project(importable, case.module, engine) as loaded:
        if isinstance(loaded, BaseException):
            return _outcome("error", "setup", loaded)
        module, modules = loaded
        try:
            if settings.sqlalchemy == "1.4":
                _behave_like_sqlalchemy_14(modules)
            metadatas = _reachable_metadata(modules)
            async with engine.begin() as connection:
                for metadata in metadatas:
                    await connection.run_sync(metadata.create_all)
        except Exception as exc:
            return _outcome("error", "setup", exc)

        sessions = async_sessionmaker(engine, expire_on_commit=settings.expire_on_commit)
        if case.seed is not None:
            try:
                await _run_in_session(sessions, lambda session: _seed(case, module, session), True)
            except Exception as exc:
                return _outcome("error", "seed", exc)
        if case.is_http:
            return await _request(case, module)
        try:
            await _run_in_session(sessions, lambda session: _call(case, module, session), False)
        except Exception as exc:
            return _outcome(crash_kind(exc), "call", exc)
        return Outcome("ok")


async def _run_in_session(
    sessions: async_sessionmaker, body: Callable[[Any], Any], commit: bool
) -> None:
    """Await `body(session)` in a fresh session; close it without masking the body's error."""
    session = sessions()
    try:
        await body(session)
        if commit:
            await session.commit()
    except BaseException:
        with contextlib.suppress(Exception):
            await session.close()
        raise
    await session.close()


async def _seed(case: Case, module: ModuleType, session: Any) -> None:
    namespace = dict(vars(module))
    source = seed_function_source(case.seed or "", _SEED_FUNCTION)
    code = compile(source, f"<{case.name} seed>", "exec")
    exec(code, namespace)
    await namespace[_SEED_FUNCTION](session)


async def _call(case: Case, module: ModuleType, session: Any) -> Any:
    """Evaluate the call expression; `await` may appear inside it (`(await f(session)).x`)."""
    namespace = {**vars(module), "session": session}
    code = compile(case.call, f"<{case.name} call>", "eval", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, namespace)
    while inspect.isawaitable(result):  # `f(session, await g(session))`: the code, then f's coroutine
        result = await result
    return result


async def _request(case: Case, module: ModuleType) -> Outcome:
    """Send `case.request` to the app `case.app` and classify what the server did.

    The transport re-raises whatever the app raised (`raise_app_exceptions=True`): Starlette's
    ServerErrorMiddleware answers 500 and then re-raises, even when the app has its own
    handler for Exception, so the server-side exception is what gets classified. An app
    that turns the exception into a response itself leaves only the response: a 5xx whose
    body carries MissingGreenlet's text still counts. The app's lifespan is not run: the
    runner creates the tables, and a scenario needs nothing else from startup.
    """
    import httpx

    assert case.request is not None and case.app_attribute is not None
    try:
        app: Any = module
        for part in case.app_attribute.split("."):
            app = getattr(app, part)
        if not callable(app):
            raise TypeError(f"{case.app} is {app!r}, not an ASGI app")
    except Exception as exc:
        return _outcome("error", "setup", exc)

    request = case.request
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
    body = {} if request.json is None else {"json": request.json}
    try:
        async with httpx.AsyncClient(transport=transport, base_url=_BASE_URL) as client:
            response = await client.request(request.method, request.path, **body)
    except Exception as exc:
        return _outcome(crash_kind(exc), "request", exc)

    if 200 <= response.status_code < 300:
        return Outcome("ok", phase="request", status=response.status_code)
    text = response.text
    kind = (
        "missing_greenlet"
        if response.status_code >= 500 and _MISSING_GREENLET_TEXT in text
        else "error"
    )
    return Outcome(
        kind,
        phase="request",
        status=response.status_code,
        traceback=(
            f"{request.describe()} -> {response.status_code} (the app answered without"
            f" raising)\n{text}"
        ),
    )


def _outcome(kind: OutcomeKind, phase: str, exc: BaseException) -> Outcome:
    formatted = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    _close_abandoned_coroutines(exc)
    return Outcome(kind=kind, phase=phase, exception=exc, traceback=formatted)


def _close_abandoned_coroutines(exc: BaseException) -> None:
    """Close the driver coroutines that MissingGreenlet left never started.

    SQLAlchemy closes the coroutine it was handed when it finds no greenlet to await it in,
    but aiosqlite's `cursor()` hands it a wrapper (`await_(cursor.__aenter__())`) whose inner
    `Connection.cursor` coroutine stays unstarted. The traceback keeps it alive, and when it is
    finally collected Python warns "coroutine ... was never awaited" into an unrelated test.
    """
    seen: set[int] = set()
    pending: list[Optional[BaseException]] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        pending += [current.__cause__, current.__context__, getattr(current, "orig", None)]
        tb = current.__traceback__
        while tb is not None:
            for value in list(tb.tb_frame.f_locals.values()):
                try:
                    inner = getattr(value, "_coro", None)
                except Exception:
                    inner = None
                for candidate in (value, inner):
                    if (
                        inspect.iscoroutine(candidate)
                        and inspect.getcoroutinestate(candidate) == "CORO_CREATED"
                    ):
                        candidate.close()
            tb = tb.tb_next


# ----------------------------------------------------------------------------------------------
# The database of one run
# ----------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _database_url(database: Database):
    """Yield (url, connect_args) of an empty database that exists only for this run."""
    if database == "sqlite":
        folder = tempfile.mkdtemp(prefix="flushguard-sqlite-")
        try:
            yield f"sqlite+aiosqlite:///{Path(folder) / 'db.sqlite'}", {}
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return

    url = postgresql_url()
    schema = f"fg_{os.getpid()}_{next(_schema_numbers)}_{secrets.token_hex(3)}"
    admin = create_async_engine(url, poolclass=NullPool)
    try:
        async with admin.begin() as connection:
            await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            yield url, {"server_settings": {"search_path": schema}}
        finally:
            async with admin.begin() as connection:
                await connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        await admin.dispose()


def _behave_like_mysql(engine: AsyncEngine) -> None:
    """Give the connected dialect MySQL's capabilities: no INSERT/UPDATE/DELETE .. RETURNING."""
    dialect = engine.sync_engine.dialect
    for flag in MYSQL_RETURNING_FLAGS:
        setattr(dialect, flag, False)


def _behave_like_sqlalchemy_14(modules: list[ModuleType]) -> None:
    """Give every mapper that kept 2.x's `eager_defaults="auto"` 1.4's default, False."""
    for reg in _reachable_registries(modules):
        for mapper in reg.mappers:
            if mapper.eager_defaults == "auto":
                mapper.eager_defaults = False


# ----------------------------------------------------------------------------------------------
# Importing a case's project for real, and forgetting it afterwards
# ----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _imported_project(
    project: Path, module_name: str, engine: AsyncEngine
) -> Iterator[tuple[ModuleType, list[ModuleType]] | BaseException]:
    """Import `module_name` from `project`; yield (module, every module loaded from project).

    Yields the exception instead when the import fails, so the caller can report it.

    While importing, `create_async_engine` returns the test engine: a project's own
    `engine = create_async_engine("mysql+aiomysql://...")` then points at the test database
    instead of failing for want of a driver, and its own session factories work too.
    Afterwards every module loaded from `project` leaves `sys.modules`, and modules of the same
    top-level names that were there before (say an installed `app`) are put back.
    """
    shadowed = _stash_shadowed_modules(project)
    sys.path.insert(0, str(project))
    importlib.invalidate_caches()
    try:
        loaded: tuple[ModuleType, list[ModuleType]] | BaseException
        try:
            with _engines_redirected_to(engine):
                module = importlib.import_module(module_name)
            loaded = (module, _modules_from(project))
        except Exception as exc:
            loaded = exc
        yield loaded
    finally:
        modules = _modules_from(project)
        _forget_mapped_classes(modules)
        for name in [m.__name__ for m in modules]:
            del sys.modules[name]
        with contextlib.suppress(ValueError):
            sys.path.remove(str(project))
        sys.path_importer_cache.pop(str(project), None)
        sys.modules.update(shadowed)
        importlib.invalidate_caches()


def _forget_mapped_classes(modules: list[ModuleType]) -> None:
    """Take the project's tables and mappers out of registries and MetaData it shares.

    A project's own `DeclarativeBase` dies with its modules, but SQLModel keeps one registry
    and one `SQLModel.metadata` for the whole process: without this, the next import of the
    same model fails with "Table 'hero' is already defined for this MetaData instance".
    """
    names = {module.__name__ for module in modules}
    registries: dict[int, registry] = {}
    for value in _module_values(modules):
        if not isinstance(value, type) or value.__module__ not in names:
            continue
        mapper = sa_inspect(value, raiseerr=False)
        if isinstance(mapper, Mapper):
            registries.setdefault(id(mapper.registry), mapper.registry)
        table = getattr(value, "__table__", None)
        if isinstance(table, Table) and table.metadata.tables.get(table.key) is table:
            table.metadata.remove(table)
    for reg in registries.values():
        reg.dispose(cascade=True)


@contextlib.contextmanager
def _engines_redirected_to(engine: AsyncEngine) -> Iterator[None]:
    def create_test_engine(*args: Any, **kwargs: Any) -> AsyncEngine:
        return engine

    holders = (sqlalchemy.ext.asyncio, sqlalchemy.ext.asyncio.engine)
    originals = [holder.create_async_engine for holder in holders]
    for holder in holders:
        holder.create_async_engine = create_test_engine  # type: ignore[assignment]
    try:
        yield
    finally:
        for holder, original in zip(holders, originals):
            holder.create_async_engine = original  # type: ignore[assignment]


def _stash_shadowed_modules(project: Path) -> dict[str, ModuleType]:
    """Remove (and return) loaded modules whose top-level name a file of `project` also has."""
    tops = {p.stem for p in project.glob("*.py")} | {
        p.name for p in project.iterdir() if p.is_dir() and p.name.isidentifier()
    }
    return {
        name: sys.modules.pop(name)
        for name in list(sys.modules)
        if name.split(".", 1)[0] in tops
    }


def _modules_from(project: Path) -> list[ModuleType]:
    """Modules loaded from files (or namespace folders) under `project`, which is resolved."""
    prefix = str(project) + os.sep
    modules = []
    for module in list(sys.modules.values()):
        locations = [getattr(module, "__file__", None), *(getattr(module, "__path__", None) or [])]
        if any(isinstance(loc, str) and loc.startswith(prefix) for loc in locations):
            modules.append(module)
    return modules


# ----------------------------------------------------------------------------------------------
# What the imported modules define
# ----------------------------------------------------------------------------------------------


def _module_values(modules: list[ModuleType]) -> Iterator[Any]:
    for module in modules:
        yield from list(vars(module).values())


def _reachable_metadata(modules: list[ModuleType]) -> list[MetaData]:
    """Every MetaData the modules' globals lead to: `metadata = MetaData()`, `Base.metadata`,
    `SQLModel.metadata`, a registry's, a Table's, a mapped class's table's."""
    found: dict[int, MetaData] = {}
    for value in _module_values(modules):
        for candidate in _metadata_candidates(value):
            if isinstance(candidate, MetaData):
                found.setdefault(id(candidate), candidate)
    return list(found.values())


def _metadata_candidates(value: Any) -> Iterator[Any]:
    if isinstance(value, MetaData):
        yield value
    elif isinstance(value, (Table, registry)):
        yield value.metadata
    elif isinstance(value, type):
        with contextlib.suppress(Exception):
            yield getattr(value, "metadata", None)
        with contextlib.suppress(Exception):
            yield getattr(getattr(value, "__table__", None), "metadata", None)


def _reachable_registries(modules: list[ModuleType]) -> list[registry]:
    found: dict[int, registry] = {}
    for value in _module_values(modules):
        candidates: list[Any] = []
        if isinstance(value, registry):
            candidates.append(value)
        elif isinstance(value, type):
            with contextlib.suppress(Exception):
                candidates.append(getattr(value, "registry", None))
            mapper = sa_inspect(value, raiseerr=False)
            if isinstance(mapper, Mapper):
                candidates.append(mapper.registry)
        for candidate in candidates:
            if isinstance(candidate, registry):
                found.setdefault(id(candidate), candidate)
    return list(found.values())

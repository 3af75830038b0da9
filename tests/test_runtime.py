"""The runtime companion as a library: `record`, `explain`, the logging filter.

Everything runs on a real `AsyncSession` (aiosqlite, and asyncpg where a test takes `database`);
crashes are real MissingGreenlets. What is pinned here: explanations as values, what recording
keeps (nothing alive, no query changed), which sessions it records, the statement each kind of
site names (autoflush, `async with session.begin()`, concurrent sessions, a rollback after the
crash), the forms the exception reaches a caller in, and the log records.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import io
import logging
import logging.config
import secrets
import sys
import warnings
import weakref
from datetime import datetime
from typing import Any, AsyncIterator, Awaitable, Callable, Optional

import pytest
from pydantic import BaseModel, field_serializer
from sqlalchemy import DateTime, ForeignKey, String, event, func, select, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship
from sqlalchemy.pool import NullPool

from codemods.runtime import (
    Explanation,
    GreenletErrorFilter,
    explain,
    is_recording,
    record,
    stop_recording,
)
from codemods.runtime import recorder
from codemods.runtime.values import display_path
import semantic
from semantic import MYSQL_RETURNING_FLAGS, postgresql_url

if sys.version_info < (3, 11):  # pragma: no cover - the backport anyio depends on
    from exceptiongroup import ExceptionGroup

THIS_FILE = __file__

#: aiosqlite leaves a coroutine unstarted when MissingGreenlet interrupts it (see semantic.py).
AIOSQLITE_CURSOR_LEAK = r"coroutine 'Connection\.cursor' was never awaited"


class Base(DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "runtime_authors"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.now())
    updated_at: Mapped[Optional[datetime]] = mapped_column(DateTime, onupdate=func.now())
    books: Mapped[list["Book"]] = relationship(back_populates="author")


class Book(Base):
    __tablename__ = "runtime_books"

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("runtime_authors.id"))
    title: Mapped[str] = mapped_column(String(100))
    author: Mapped[Author] = relationship(back_populates="books")


def line_of(function: Callable, text_in_line: str) -> int:
    """The line of this file, inside `function`, that holds `text_in_line` (once)."""
    import inspect

    lines, first = inspect.getsourcelines(function)
    found = [first + i for i, line in enumerate(lines) if text_in_line in line]
    assert len(found) == 1, (text_in_line, found)
    return found[0]


@contextlib.asynccontextmanager
async def database_engine(
    database: str = "sqlite", mysql_like: bool = False
) -> AsyncIterator[AsyncEngine]:
    """A fresh database with the tables above (an aiosqlite file, or a PostgreSQL schema)."""
    if database == "postgresql":
        schema = f"runtime_{secrets.token_hex(4)}"
        admin = create_async_engine(postgresql_url(), poolclass=NullPool)
        async with admin.begin() as connection:
            await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine = create_async_engine(
            postgresql_url(), connect_args={"server_settings": {"search_path": schema}}
        )
    else:
        import tempfile

        folder = tempfile.mkdtemp(prefix="flushguard-runtime-")
        engine = create_async_engine(f"sqlite+aiosqlite:///{folder}/db.sqlite")
    try:
        async with engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
        if mysql_like:
            for flag in MYSQL_RETURNING_FLAGS:
                setattr(engine.sync_engine.dialect, flag, False)
        yield engine
    finally:
        await engine.dispose()
        if database == "postgresql":
            async with admin.begin() as connection:
                await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            await admin.dispose()


def crash(
    body: Callable[[AsyncSession], Awaitable[Any]],
    *,
    database: str = "sqlite",
    mysql_like: bool = False,
    factory: Optional[Callable[[AsyncEngine], Any]] = None,
) -> BaseException:
    """Run `body(session)` on a fresh database; return the exception it must raise."""

    async def main() -> None:
        async with database_engine(database, mysql_like) as engine:
            sessions = factory(engine) if factory else async_sessionmaker(engine)
            async with sessions() as session:
                session.add(Author(name="Ann"))
                await session.commit()
            async with sessions() as session:
                await body(session)

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", AIOSQLITE_CURSOR_LEAK, RuntimeWarning)
        with pytest.raises(Exception) as caught:
            asyncio.run(main())
        semantic._close_abandoned_coroutines(caught.value)
    return caught.value


@pytest.fixture(autouse=True)
def recording() -> None:
    """Record for every test here (the plugin usually already does)."""
    record()


# ----------------------------------------------------------------------------------------------
# Explanations as values
# ----------------------------------------------------------------------------------------------


async def create_author(session: AsyncSession) -> Any:
    author = Author(name="Bea")
    session.add(author)
    await session.flush()
    return author.created_at


def test_explanation_is_a_frozen_value_naming_everything(database: str) -> None:
    exc = crash(create_author, database=database, mysql_like=True)
    explanation = explain(exc)
    assert isinstance(explanation, Explanation)
    flush_line = line_of(create_author, "await session.flush()")
    assert (explanation.model, explanation.attribute, explanation.object) == (
        "Author", "created_at", "author"
    )
    assert explanation.identity == "id=2"
    assert explanation.site is not None
    assert (explanation.site.path, explanation.site.line, explanation.site.kind) == (
        THIS_FILE, flush_line, "flush"
    )
    assert explanation.site.statement == "await session.flush()"
    assert explanation.code == "FG001"
    assert explanation.reason == (
        "`created_at` has a server default that the INSERT did not fetch (INSERT..RETURNING"
        f" is off on this {database} dialect, as on MySQL)"
    )
    assert explanation.fix == 'await session.refresh(author, ["created_at"])'
    assert explanation.read is not None and explanation.read.line == flush_line + 1
    assert explanation.surfaced_as == type(exc).__name__
    with pytest.raises(dataclasses.FrozenInstanceError):
        explanation.attribute = "name"  # type: ignore[misc]


def test_other_exceptions_have_no_explanation() -> None:
    async def duplicate(session: AsyncSession) -> None:
        session.add(Author(id=1, name="Ann again"))
        await session.flush()

    integrity_error = crash(duplicate)
    assert type(integrity_error).__name__ == "IntegrityError"
    assert explain(integrity_error) is None
    assert explain(ValueError("greenlet")) is None
    assert explain(RuntimeError("no MissingGreenlet here")) is None


def test_an_exception_that_wraps_it_is_explained_too() -> None:
    exc = crash(create_author, mysql_like=True)
    try:
        try:
            raise exc
        except Exception as inner:
            raise RuntimeError("request failed") from inner
    except RuntimeError as outer:
        caused = outer
    group = ExceptionGroup("task group", [ValueError("other"), exc])
    for wrapper in (caused, group):
        explanation = explain(wrapper)
        assert explanation is not None and explanation.attribute == "created_at"


def test_without_recording_the_site_is_not_named() -> None:
    stop_recording()
    try:
        exc = crash(create_author, mysql_like=True)
    finally:
        record()
    explanation = explain(exc)
    assert explanation is not None
    assert explanation.site is None and explanation.fix is None
    assert explanation.attribute == "created_at"
    assert "not recorded" in explanation.report()
    assert explanation.summary() == (
        "GREENLET ERROR: Author.created_at, unloaded by a statement flushguard did not record"
    )


# ----------------------------------------------------------------------------------------------
# The statement each site names
# ----------------------------------------------------------------------------------------------


async def rename_then_query(session: AsyncSession) -> Any:
    author = await session.get(Author, 1)
    author.name = "Ann B."
    await session.execute(select(Book))
    return author.updated_at


def test_an_autoflush_is_named_at_the_query_that_caused_it() -> None:
    explanation = explain(crash(rename_then_query))
    assert explanation is not None and explanation.site is not None
    query = line_of(rename_then_query, "await session.execute(select(Book))")
    assert explanation.site.line == query
    assert (explanation.site.kind, explanation.site.call) == ("flush", "autoflush")
    assert explanation.reason == "`updated_at` has a SQL-expression onupdate: the UPDATE expires it"


async def sign_up(session: AsyncSession) -> Any:
    author = Author(name="Cy")
    async with session.begin():
        session.add(author)
    return author.name


def test_a_begin_block_commits_where_it_starts() -> None:
    explanation = explain(crash(sign_up))
    assert explanation is not None and explanation.site is not None
    assert explanation.site.line == line_of(sign_up, "async with session.begin():")
    assert (explanation.site.kind, explanation.code) == ("commit", "FG003")
    assert explanation.fix == (
        'await session.refresh(author, ["id", "name", "created_at", "updated_at"])'
    )


async def read_then_roll_back(session: AsyncSession) -> Any:
    author = await session.get(Author, 1)
    author.name = "Dee"
    await session.flush()
    try:
        return author.updated_at
    finally:
        await session.rollback()


def test_a_rollback_after_the_crash_is_not_the_cause() -> None:
    explanation = explain(crash(read_then_roll_back))
    assert explanation is not None and explanation.site is not None
    assert explanation.site.line == line_of(read_then_roll_back, "await session.flush()")
    assert explanation.site.kind == "flush"


async def new_author_books(session: AsyncSession) -> Any:
    author = Author(name="Eve")
    session.add(author)
    await session.flush()
    await session.refresh(author)
    return len(author.books)


def test_a_relationship_never_loaded_names_the_insert_and_the_plain_refresh() -> None:
    explanation = explain(crash(new_author_books))
    assert explanation is not None and explanation.site is not None
    assert explanation.site.line == line_of(new_author_books, "await session.flush()")
    assert explanation.code == "FG002"
    assert explanation.reason == (
        "`books` was never assigned before the flush, so it is not loaded; the plain"
        " refresh() after it does not load lazy relationships"
    )
    assert explanation.fix == 'await session.refresh(author, ["books"])'


def test_concurrent_sessions_each_name_their_own_flush() -> None:
    """Two tasks flush in turn while the other waits: each crash names its own statement."""

    async def one(name: str, pause: asyncio.Event, go: asyncio.Event) -> BaseException:
        async with database_engine() as engine:  # one database each: SQLite locks per file
            sessions = async_sessionmaker(engine)
            async with sessions() as session:
                session.add(Author(name="Ann"))
                await session.commit()
            async with sessions() as session:
                try:
                    await helper_for(name)(session, pause, go)
                except Exception as exc:
                    semantic._close_abandoned_coroutines(exc)
                    return exc
        raise AssertionError("no crash")

    async def main() -> list[BaseException]:
        first_paused, second_paused, go = asyncio.Event(), asyncio.Event(), asyncio.Event()
        first = asyncio.create_task(one("first", first_paused, go))
        await first_paused.wait()
        second = asyncio.create_task(one("second", second_paused, go))
        await second_paused.wait()
        go.set()
        return [await first, await second]

    first_exc, second_exc = asyncio.run(main())
    for exc, helper in ((first_exc, flush_first), (second_exc, flush_second)):
        explanation = explain(exc)
        assert explanation is not None and explanation.site is not None
        assert explanation.site.line == line_of(helper, "await session.flush()")


async def flush_first(session: AsyncSession, pause: asyncio.Event, go: asyncio.Event) -> Any:
    author = await session.get(Author, 1)
    author.name = "first"
    await session.flush()
    pause.set()
    await go.wait()
    return author.updated_at


async def flush_second(session: AsyncSession, pause: asyncio.Event, go: asyncio.Event) -> Any:
    author = await session.get(Author, 1)
    author.name = "second"
    await session.flush()
    pause.set()
    await go.wait()
    return author.updated_at


def helper_for(name: str) -> Callable:
    return {"first": flush_first, "second": flush_second}[name]


# ----------------------------------------------------------------------------------------------
# What recording keeps and changes: nothing alive, no query
# ----------------------------------------------------------------------------------------------


def test_recording_keeps_no_object_or_session_alive() -> None:
    objects: list[weakref.ref] = []
    records: list[weakref.ref] = []
    sessions: list[weakref.ref] = []

    async def main() -> None:
        async with database_engine(mysql_like=True) as engine:
            factory = async_sessionmaker(engine)
            async with factory() as session:
                authors = [Author(name=f"a{i}") for i in range(20)]
                session.add_all(authors)
                await session.flush()                  # per-attribute records (created_at)
                authors[0].name = "changed"
                await session.flush()                  # an UPDATE
                session.expire(authors[1], ["name"])   # expire()
                await session.commit()                 # whole-object records
                objects.extend(weakref.ref(a) for a in authors)
                for author in authors:
                    record_ = recorder.state_record(author._sa_instance_state)
                    assert record_ is not None and record_.whole is not None
                    records.append(weakref.ref(record_))
                sessions.append(weakref.ref(session.sync_session))
                del authors, author, record_

    asyncio.run(main())
    gc.collect()
    assert len(objects) == len(records) == 20
    assert all(ref() is None for ref in objects)
    assert all(ref() is None for ref in records)  # the records died with their objects
    assert sessions and sessions[0]() is None


def sql_of(run: Callable[[], None]) -> list[str]:
    statements: list[str] = []

    def capture(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    from sqlalchemy.engine import Engine

    event.listen(Engine, "before_cursor_execute", capture)
    try:
        run()
    finally:
        event.remove(Engine, "before_cursor_execute", capture)
    return statements


def workload() -> None:
    async def main() -> tuple:
        async with database_engine(mysql_like=True) as engine:
            async with async_sessionmaker(engine)() as session:
                author = Author(name="Fay", books=[Book(title="One")])
                session.add(author)
                await session.flush()
                await session.refresh(author, ["created_at"])
                author.name = "Fay F."
                await session.commit()
                await session.refresh(author)
                session.expire_all()
                await session.rollback()
                await session.refresh(author)
                return (author.id, author.name)

    asyncio.run(main())


def test_recording_changes_no_query() -> None:
    with_recording = sql_of(workload)
    stop_recording()
    try:
        without = sql_of(workload)
    finally:
        record()
    assert with_recording == without and len(without) > 5


def test_stop_recording_removes_every_listener() -> None:
    assert is_recording()
    stop_recording()
    try:
        assert not is_recording()
        for name, listener in recorder._SESSION_LISTENERS:
            assert not event.contains(Session, name, listener)
    finally:
        record()
    assert event.contains(Session, "before_flush", recorder._before_flush)


def test_recording_a_factory_or_an_engine_records_only_its_sessions() -> None:
    stop_recording()
    seen: dict[str, Optional[int]] = {}

    async def main() -> None:
        async with database_engine(mysql_like=True) as engine, database_engine(
            mysql_like=True
        ) as other_engine:
            recorded = async_sessionmaker(engine)
            record(recorded)
            by_engine = async_sessionmaker(other_engine)
            unrecorded = async_sessionmaker(engine)
            for name, factory in (("factory", recorded), ("unrecorded", unrecorded)):
                async with factory() as session:
                    author = Author(name=name)
                    session.add(author)
                    await session.flush()
                    seen[name] = _line_recorded(author)
            record(other_engine)
            async with by_engine() as session:
                author = Author(name="engine")
                session.add(author)
                await session.flush()
                seen["engine"] = _line_recorded(author)

    try:
        asyncio.run(main())
    finally:
        stop_recording()
        record()
    assert seen["factory"] is not None and seen["engine"] is not None
    assert seen["unrecorded"] is None


def _line_recorded(author: Author) -> Optional[int]:
    op, _, _ = recorder.unloading_of(author._sa_instance_state, "created_at")
    return None if op is None else op.frames[0][1]


# ----------------------------------------------------------------------------------------------
# Logs
# ----------------------------------------------------------------------------------------------


def test_log_records_with_the_exception_say_greenlet_error() -> None:
    exc = crash(create_author, mysql_like=True)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(GreenletErrorFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s [%(flushguard_code)s]"))
    logger = logging.getLogger("flushguard.test.runtime")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        try:
            raise exc
        except Exception:
            logger.exception("Exception in ASGI application")
        logger.info("a plain %s", "record")
    finally:
        logger.removeHandler(handler)
    site = f"{display_path(THIS_FILE)}:{line_of(create_author, 'await session.flush()')}"
    output = stream.getvalue()
    expected = (
        "ERROR Exception in ASGI application\n"
        f"GREENLET ERROR: Author.created_at, unloaded by the flush at {site} [FG001]\n"
    )
    assert output.startswith(expected), output
    assert "Traceback (most recent call last)" in output  # the traceback is still logged
    assert output.rstrip().endswith("INFO a plain record []")


def test_log_filter_fields_for_structured_logs() -> None:
    exc = crash(create_author, mysql_like=True)
    record_ = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed %s", ("here",),
                                (type(exc), exc, exc.__traceback__))
    assert GreenletErrorFilter(annotate=False).filter(record_) is True
    assert record_.getMessage() == "failed here"
    assert record_.flushguard_attribute == "created_at"
    assert record_.flushguard_model == "Author"
    assert record_.flushguard_site_kind == "flush"
    assert record_.flushguard_fix == 'await session.refresh(author, ["created_at"])'
    assert record_.flushguard is not None and record_.flushguard.code == "FG001"


class AuthorCard(BaseModel):
    author: Any

    @field_serializer("author")
    def joined(self, author: Author) -> str:
        return f"{author.name}, since {author.created_at}"


async def serialize_new_author(session: AsyncSession) -> Any:
    author = Author(name="Gus")
    session.add(author)
    await session.flush()
    return AuthorCard(author=author).model_dump()


def test_a_field_serializer_read_is_explained_through_the_cause() -> None:
    """pydantic raises PydanticSerializationError from the MissingGreenlet: the cause is read."""
    exc = crash(serialize_new_author, mysql_like=True)
    assert type(exc).__name__ == "PydanticSerializationError"
    explanation = explain(exc)
    assert explanation is not None and explanation.site is not None
    assert explanation.attribute == "created_at"
    assert explanation.site.line == line_of(serialize_new_author, "await session.flush()")
    assert explanation.read is not None
    assert explanation.read.line == line_of(AuthorCard.joined, "since {author.created_at}")


def test_a_missing_greenlet_without_an_attribute_read_has_no_explanation() -> None:
    async def sync_call_from_async(session: AsyncSession) -> None:
        session.sync_session.execute(select(Author))

    exc = crash(sync_call_from_async)
    assert "greenlet_spawn has not been called" in str(exc)
    assert explain(exc) is None


def test_the_filter_in_a_dict_config() -> None:
    """As the README configures it for uvicorn's --log-config."""
    stream = io.StringIO()
    logging.config.dictConfig({
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"flushguard": {"()": "codemods.runtime.GreenletErrorFilter"}},
        "handlers": {"stream": {"class": "logging.StreamHandler", "stream": stream,
                                "filters": ["flushguard"]}},
        "loggers": {"flushguard.test.dictconfig": {"handlers": ["stream"], "propagate": False}},
    })
    exc = crash(create_author, mysql_like=True)
    try:
        raise exc
    except Exception:
        logging.getLogger("flushguard.test.dictconfig").exception("boom")
    assert "\nGREENLET ERROR: Author.created_at, unloaded by the flush at " in stream.getvalue()


async def flush_in_run_sync(session: AsyncSession) -> Any:
    author = Author(name="Hal")

    def add_and_flush(sync_session: Session) -> None:
        sync_session.add(author)
        sync_session.flush()

    await session.run_sync(add_and_flush)
    return author.created_at


def test_a_flush_inside_run_sync_is_named_at_the_run_sync_call() -> None:
    explanation = explain(crash(flush_in_run_sync, mysql_like=True))
    assert explanation is not None and explanation.site is not None
    assert explanation.site.line == line_of(flush_in_run_sync, "await session.run_sync(")
    assert (explanation.site.kind, explanation.site.call) == ("flush", "flush()")

#!/usr/bin/env python
"""Measure what a synchronous ORM attribute read does after session operations in async SQLAlchemy.

This is the evidence behind the sections of ``docs/semantics.md`` that cite it. It is not a test
of flushguard: it runs SQLAlchemy against real servers and records what happened, one *cell* at
a time. A cell is one scenario, run in its own sessions on its own freshly inserted rows, that
ends with one plain synchronous read (``obj.attr``, exactly what application code does) outside
SQLAlchemy's greenlet bridge. The read's outcome is one of:

    ok                     a value came back and no SQL was needed
    MissingGreenlet        the read needed SQL (``surface`` says whether the exception was bare
                           or a StatementError whose ``.orig`` is the MissingGreenlet)
    DetachedInstanceError  the read needed SQL and the object has no session
    InvalidRequestError    a lazy="raise"/"raise_on_sql" relationship refused to load
    error:<Name>           anything else

Run it once per SQLAlchemy version, each from its own virtualenv (see README.md beside it):

    python docs/evidence/measure.py run --out docs/evidence/results-sa2.0.json
    python docs/evidence/measure.py report docs/evidence/results-*.json

Servers come from the environment: ``MEASURE_PG_URL`` (postgresql+asyncpg://...) and
``MEASURE_MARIADB_URL`` (mysql+asyncmy://...); SQLite is a file in a temporary folder. The
backend ``mysql`` is the MariaDB server with the dialect's RETURNING capabilities switched off
after the first connection, which is what SQLAlchemy detects for MySQL (no RETURNING).
Each backend's tables are dropped and created again at the start of a run.

Groups of cells (``--groups``):

    defaults   a column with both a Python-side default and a server_default, after an INSERT;
               None and SQL expressions given to defaulted columns
    refresh    a plain refresh(obj) of an object loaded with selectinload/joinedload options
    reselect   what session.get() and a select() by primary key reload on an object in the session
    fk-only    a many-to-one after a flush of an object given only its foreign key
    blocks     reads after `async with` session blocks and after close()
    setattr    setattr(obj, key, value) in a loop against obj.key = value before an UPDATE
    expired-update
               an object expired whole or in part, then changed (or not) and flushed
    plain-refresh
               which relationships a plain refresh(obj) loads: loader options of the first
               query, lazy="selectin"/"joined" on the model, new objects, after a commit or not
    default-beside-server
               a Python default (constant, callable, lambda) or a SQL default beside a
               server_default, not given before the INSERT, under every eager_defaults setting
    get-expired
               session.get() of an object in the session after a commit, expire(), expire_all(),
               rollback(), with and without populate_existing and options; which relationships
               it loads again with the columns
    fk-identity-map
               a many-to-one given only its foreign key, by where its target object is: held,
               dropped, expired whole or in part, loaded again, loaded after the flush
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import hashlib
import json
import os
import platform
import re
import sys
import tempfile
import warnings
from importlib import metadata
from typing import Any, Awaitable, Callable, Dict, List, Optional, Sequence, Tuple

# A read that raises MissingGreenlet leaves a coroutine that was never awaited: not our concern.
warnings.filterwarnings("ignore", message="coroutine .* was never awaited")

import sqlalchemy as sa  # noqa: E402
from sqlalchemy import (  # noqa: E402
    Column, DateTime, ForeignKey, Integer, String, event, func, insert, inspect, select,
)
from sqlalchemy import exc as sa_exc  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402
from sqlalchemy.orm import (  # noqa: E402
    DeclarativeBase, Mapped, MappedAsDataclass, joinedload, mapped_column, relationship,
    selectinload,
)
from sqlalchemy.orm import exc as orm_exc  # noqa: E402

FIXED_TIME = datetime.datetime(2001, 2, 3, 4, 5, 6)


def python_time() -> datetime.datetime:
    """The Python-side default of the datetime columns: a value no server could produce."""
    return FIXED_TIME


def python_text() -> str:
    return "py-call"


# ---------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------


class Base(DeclarativeBase):
    pass


class DataclassBase(MappedAsDataclass, DeclarativeBase):
    pass


# -- defaults: a Python default beside a server default ---------------------------------------


class ClassicColumns:
    """``Column(...)`` declarations, copied into each model that mixes them in."""

    id = Column(Integer, primary_key=True)
    label = Column(String(20))
    both_scalar = Column(String(20), default="py", server_default="srv")
    both_callable = Column(String(20), default=python_text, server_default="srv")
    both_sql = Column(String(20), default=func.lower("PY-SQL"), server_default="srv")
    both_datetime = Column(DateTime, default=python_time, server_default=func.now())
    server_only = Column(String(20), server_default="srv")
    python_only = Column(String(20), default="py")


class DefaultsColumn(ClassicColumns, Base):
    __tablename__ = "sem_defaults_column"


class DefaultsColumnNoEager(ClassicColumns, Base):
    __tablename__ = "sem_defaults_column_noeager"
    __mapper_args__ = {"eager_defaults": False}


class MappedColumns:
    """``mapped_column(...)`` declarations (no dataclass), copied into each model."""

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[Optional[str]] = mapped_column(String(20))
    both_scalar: Mapped[str] = mapped_column(String(20), default="py", server_default="srv")
    both_callable: Mapped[str] = mapped_column(String(20), default=python_text,
                                               server_default="srv")
    both_sql: Mapped[str] = mapped_column(String(20), default=func.lower("PY-SQL"),
                                          server_default="srv")
    both_datetime: Mapped[datetime.datetime] = mapped_column(default=python_time,
                                                             server_default=func.now())
    both_insert_default: Mapped[str] = mapped_column(String(20), insert_default="py",
                                                     server_default="srv")
    server_only: Mapped[Optional[str]] = mapped_column(String(20), server_default="srv")
    python_only: Mapped[str] = mapped_column(String(20), default="py")


class DefaultsMapped(MappedColumns, Base):
    __tablename__ = "sem_defaults_mapped"


class DefaultsMappedNoEager(MappedColumns, Base):
    __tablename__ = "sem_defaults_mapped_noeager"
    __mapper_args__ = {"eager_defaults": False}


class DefaultsMappedNoReturning(MappedColumns, Base):
    __tablename__ = "sem_defaults_mapped_noreturning"
    __table_args__ = {"implicit_returning": False}


class DefaultsDataclassInitFalse(DataclassBase):
    """Every defaulted column is ``init=False``: the constructor never sets it."""

    __tablename__ = "sem_defaults_dc_initfalse"
    id: Mapped[int] = mapped_column(primary_key=True, init=False)
    label: Mapped[Optional[str]] = mapped_column(String(20), default=None)
    both_scalar: Mapped[str] = mapped_column(String(20), default="py", server_default="srv",
                                             init=False)
    both_factory: Mapped[str] = mapped_column(String(20), default_factory=python_text,
                                              server_default="srv", init=False)
    both_datetime: Mapped[datetime.datetime] = mapped_column(
        default_factory=python_time, server_default=func.now(), init=False)
    both_insert_default: Mapped[str] = mapped_column(String(20), insert_default="py",
                                                     server_default="srv", init=False)
    server_only: Mapped[Optional[str]] = mapped_column(String(20), server_default="srv",
                                                       init=False)
    python_only: Mapped[str] = mapped_column(String(20), default="py", init=False)


def _accepts_default_beside_insert_default() -> bool:
    """2.1 refuses ``mapped_column(default=..., insert_default=...)``; 2.0 takes it."""
    try:
        mapped_column(String(20), insert_default="py", default=None)
    except sa_exc.ArgumentError:
        return False
    return True


ACCEPTS_DEFAULT_BESIDE_INSERT_DEFAULT = _accepts_default_beside_insert_default()


class DefaultsDataclassInit(DataclassBase):
    """The defaults are dataclass defaults of ``__init__`` arguments the cell does not pass."""

    __tablename__ = "sem_defaults_dc_init"
    id: Mapped[int] = mapped_column(primary_key=True, init=False)
    server_only: Mapped[Optional[str]] = mapped_column(String(20), server_default="srv",
                                                       init=False)
    label: Mapped[Optional[str]] = mapped_column(String(20), default=None)
    both_scalar: Mapped[str] = mapped_column(String(20), default="py", server_default="srv")
    both_factory: Mapped[str] = mapped_column(String(20), default_factory=python_text,
                                              server_default="srv")
    both_datetime: Mapped[datetime.datetime] = mapped_column(
        default_factory=python_time, server_default=func.now())
    if ACCEPTS_DEFAULT_BESIDE_INSERT_DEFAULT:
        both_insert_default: Mapped[Optional[str]] = mapped_column(
            String(20), insert_default="py", server_default="srv", default=None)
    server_none_default: Mapped[Optional[str]] = mapped_column(String(20), server_default="srv",
                                                               default=None)
    python_only: Mapped[str] = mapped_column(String(20), default="py")


#: The models whose text columns are given a SQL expression before the INSERT.
SQL_GIVEN_MODELS = ["DefaultsColumn", "DefaultsMapped", "DefaultsMappedNoEager"]

DEFAULTS_MODELS = [DefaultsColumn, DefaultsColumnNoEager, DefaultsMapped, DefaultsMappedNoEager,
                   DefaultsMappedNoReturning, DefaultsDataclassInitFalse, DefaultsDataclassInit]


def defaulted_columns(model: type) -> List[str]:
    return [c.key for c in inspect(model).column_attrs if c.key not in ("id", "label")]


# -- default-beside-server: every kind of INSERT default beside a server_default ---------------


def python_text_from_context(context) -> str:
    """A Python default that takes the execution context (SQLAlchemy passes it when asked)."""
    return "py-ctx"


class ServerDefaultColumns:
    """``Column(...)`` declarations, copied into each mapper variant below."""

    id = Column(Integer, primary_key=True)
    label = Column(String(20))
    scalar_srv = Column(String(20), default="py", server_default="srv")
    callable_srv = Column(String(20), default=python_text, server_default="srv")
    lambda_srv = Column(String(20), default=lambda: "py-lambda", server_default="srv")
    context_srv = Column(String(20), default=python_text_from_context, server_default="srv")
    time_callable_srv = Column(DateTime, default=python_time, server_default=func.now())
    time_sql_srv = Column(DateTime, default=func.now(), server_default=func.now())
    time_sql_only = Column(DateTime, default=func.now())
    text_sql_srv = Column(String(20), default=func.lower("PY-SQL"), server_default="srv")
    server_only = Column(String(20), server_default="srv")


class BesideDefault(ServerDefaultColumns, Base):
    __tablename__ = "sem_beside_default"


class BesideEagerTrue(ServerDefaultColumns, Base):
    __tablename__ = "sem_beside_eager_true"
    __mapper_args__ = {"eager_defaults": True}


class BesideEagerFalse(ServerDefaultColumns, Base):
    __tablename__ = "sem_beside_eager_false"
    __mapper_args__ = {"eager_defaults": False}


class BesideNoReturning(ServerDefaultColumns, Base):
    __tablename__ = "sem_beside_noreturning"
    __table_args__ = {"implicit_returning": False}


BESIDE_MODELS = [BesideDefault, BesideEagerTrue, BesideEagerFalse, BesideNoReturning]


# -- refresh: an author and its books ----------------------------------------------------------


class Author(Base):
    __tablename__ = "sem_author"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime.datetime] = mapped_column(server_default=func.now())
    books: Mapped[List["Book"]] = relationship(back_populates="author", lazy="select",
                                               order_by="Book.id")


class Book(Base):
    __tablename__ = "sem_book"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(20))
    author_id: Mapped[int] = mapped_column(ForeignKey("sem_author.id"))
    author: Mapped[Author] = relationship(back_populates="books", lazy="select")


# -- fk-only: a team and one member class per lazy strategy -----------------------------------


class Team(Base):
    __tablename__ = "sem_team"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))


LAZY_STRATEGIES = ["select", "joined", "selectin", "raise_on_sql", "raise"]


def member_model(lazy: str) -> type:
    return type(f"Member_{lazy}", (Base,), {
        "__tablename__": f"sem_member_{lazy}",
        "id": Column(Integer, primary_key=True),
        "name": Column(String(20)),
        "team_id": Column(ForeignKey("sem_team.id")),
        "team": relationship(Team, lazy=lazy),
    })


MEMBERS = {lazy: member_model(lazy) for lazy in LAZY_STRATEGIES}


# -- blocks: a note with a server default and a collection ------------------------------------


class Note(Base):
    __tablename__ = "sem_note"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime.datetime] = mapped_column(server_default=func.now())
    tags: Mapped[List["Tag"]] = relationship(lazy="select")


class Tag(Base):
    __tablename__ = "sem_tag"
    id: Mapped[int] = mapped_column(primary_key=True)
    note_id: Mapped[int] = mapped_column(ForeignKey("sem_note.id"))
    label: Mapped[str] = mapped_column(String(20))


# -- setattr: a row with an onupdate=func.now() column ----------------------------------------


class Gadget(Base):
    __tablename__ = "sem_gadget"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))
    size: Mapped[int] = mapped_column()
    touched_at: Mapped[Optional[datetime.datetime]] = mapped_column(onupdate=func.now())


# -- plain-refresh: a parent with a lazy and two eager collections; many-to-ones to it ----------


class Parent(Base):
    __tablename__ = "sem_parent"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))
    children: Mapped[List["Child"]] = relationship(back_populates="parent", lazy="select",
                                                   order_by="Child.id")
    selectin_children: Mapped[List["SelectinChild"]] = relationship(
        lazy="selectin", order_by="SelectinChild.id")
    joined_children: Mapped[List["JoinedChild"]] = relationship(lazy="joined",
                                                                order_by="JoinedChild.id")


class Child(Base):
    """The many-to-one ``parent`` is ``lazy="select"``: loader options decide."""

    __tablename__ = "sem_child"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))
    parent_id: Mapped[int] = mapped_column(ForeignKey("sem_parent.id"))
    parent: Mapped[Parent] = relationship(back_populates="children", lazy="select")


class SelectinChild(Base):
    __tablename__ = "sem_selectin_child"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("sem_parent.id"))


class JoinedChild(Base):
    __tablename__ = "sem_joined_child"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("sem_parent.id"))


class Pupil(Base):
    """A many-to-one declared ``lazy="selectin"`` on the model."""

    __tablename__ = "sem_pupil"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))
    parent_id: Mapped[int] = mapped_column(ForeignKey("sem_parent.id"))
    parent: Mapped[Parent] = relationship(lazy="selectin")


# -- get-expired: a row with a server default, a deferred column and a collection -------------


class Ledger(Base):
    __tablename__ = "sem_ledger"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime.datetime] = mapped_column(server_default=func.now())
    memo: Mapped[Optional[str]] = mapped_column(String(20), deferred=True)
    entries: Mapped[List["Entry"]] = relationship(lazy="select", order_by="Entry.id")


class Entry(Base):
    __tablename__ = "sem_entry"
    id: Mapped[int] = mapped_column(primary_key=True)
    ledger_id: Mapped[int] = mapped_column(ForeignKey("sem_ledger.id"))


# ---------------------------------------------------------------------------------------------
# Running cells
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Cell:
    group: str
    case: str
    read: str
    outcome: str = ""
    surface: Optional[str] = None
    value: Optional[str] = None
    facts: Dict[str, Any] = dataclasses.field(default_factory=dict)


class StatementLog:
    """The statements an engine sends, summarised as ``VERB table`` (``+RETURNING`` when so)."""

    def __init__(self) -> None:
        self.entries: List[Tuple[str, str]] = []

    def attach(self, engine: AsyncEngine) -> None:
        event.listen(engine.sync_engine, "before_cursor_execute", self._record)

    def _record(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.entries.append((summarise(statement), statement))

    def take(self) -> List[str]:
        taken = [summary for summary, _ in self.entries]
        self.entries = []
        return taken

    def take_full(self) -> List[str]:
        taken = [statement for _, statement in self.entries]
        self.entries = []
        return taken


def summarise(statement: str) -> str:
    text = " ".join(statement.split())
    verb = text.split(" ", 1)[0].upper()
    pattern = {"INSERT": r"INSERT INTO (\S+)", "UPDATE": r"UPDATE (\S+)",
               "DELETE": r"DELETE FROM (\S+)"}.get(verb, r"FROM (\S+)")
    match = re.search(pattern, text, re.IGNORECASE)
    table = match.group(1).strip('"`') if match else "?"
    tables = sorted(set(t.strip('"`') for t in re.findall(r"(?:JOIN|FROM) (\S+)", text,
                                                          re.IGNORECASE)) - {table})
    out = f"{verb} {table}"
    if tables:
        out += " JOIN " + ",".join(tables)
    if re.search(r"\bRETURNING\b", text, re.IGNORECASE):
        out += " RETURNING"
    return out


def describe(value: Any) -> str:
    if isinstance(value, list):
        return f"list[{len(value)}]"
    if isinstance(value, datetime.datetime):
        return "the fixed Python time" if value == FIXED_TIME else "a server time"
    if hasattr(value, "__table__"):
        return f"{type(value).__name__}(id={value.__dict__.get('id')})"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def read_now(obj: Any, attr: str, cell: Cell, log: StatementLog) -> Any:
    """Read ``obj.attr`` synchronously, as application code does, and record what happened."""
    log.take()
    try:
        value = getattr(obj, attr)
    except orm_exc.DetachedInstanceError:
        cell.outcome = "DetachedInstanceError"
    except sa_exc.MissingGreenlet:
        cell.outcome, cell.surface = "MissingGreenlet", "bare"
    except sa_exc.StatementError as exc:
        if isinstance(exc.orig, sa_exc.MissingGreenlet):
            cell.outcome, cell.surface = "MissingGreenlet", "StatementError"
        else:
            cell.outcome = f"error:{type(exc).__name__}"
    except sa_exc.InvalidRequestError:
        cell.outcome = "InvalidRequestError"
    except Exception as exc:  # recorded, never hidden: the report shows it
        cell.outcome = f"error:{type(exc).__name__}"
        cell.value = str(exc).splitlines()[0][:120]
    else:
        cell.outcome = "ok"
        cell.value = describe(value)
        return value
    tried = log.take()
    if tried:
        cell.facts["read_tried"] = tried
    return None


def state_facts(obj: Any, attr: str) -> Dict[str, Any]:
    """Where the attribute stood just before the read: ``dict``, ``expired`` or ``absent``."""
    state = inspect(obj)
    if attr in state.expired_attributes:
        where = "expired"
    else:
        where = "dict" if attr in obj.__dict__ else "absent"
    facts: Dict[str, Any] = {"state": where}
    if state.detached:
        facts["detached"] = True
    return facts


class Backend:
    """One database to measure: an engine, session factories and the statement log."""

    def __init__(self, name: str, url: str, no_returning: bool = False) -> None:
        self.name = name
        self.url = url
        self.no_returning = no_returning
        self.engine = create_async_engine(url)
        self.log = StatementLog()
        self.log.attach(self.engine)
        self.facts: Dict[str, Any] = {}

    async def prepare(self) -> None:
        async with self.engine.connect() as conn:  # the dialect learns the server here
            await conn.execute(select(1))
        dialect = self.engine.dialect
        if self.no_returning:
            # MySQL's capability profile: no RETURNING of any kind. The ORM decides what to
            # fetch after a flush from these flags alone.
            for flag in ("insert_returning", "update_returning", "delete_returning",
                         "insert_executemany_returning"):
                setattr(dialect, flag, False)
        self.facts = {
            # SQLite's file lives in a temporary folder: its path would only add noise.
            "url": (self.engine.url.drivername if self.engine.url.get_backend_name() == "sqlite"
                    else self.engine.url.render_as_string(hide_password=True)),
            "server_version": ".".join(str(p) for p in dialect.server_version_info or ()),
            "insert_returning": dialect.insert_returning,
            "update_returning": dialect.update_returning,
            "insert_executemany_returning": dialect.insert_executemany_returning,
        }
        if self.no_returning:
            self.facts["returning_switched_off"] = True
        async with self.engine.begin() as conn:
            for metadata_ in (Base.metadata, DataclassBase.metadata):
                await conn.run_sync(metadata_.drop_all)
                await conn.run_sync(metadata_.create_all)
        self.log.take()

    def factory(self, expire_on_commit: bool = True) -> async_sessionmaker:
        return async_sessionmaker(self.engine, expire_on_commit=expire_on_commit)

    def session(self, expire_on_commit: bool = True) -> AsyncSession:
        return AsyncSession(self.engine, expire_on_commit=expire_on_commit)

    async def seed(self, *objects: Any) -> None:
        """Insert and commit rows from a session of their own; the objects keep their ids."""
        async with self.session(expire_on_commit=False) as s:
            s.add_all(objects)
            await s.commit()
        self.log.take()


Scenario = Callable[[Backend], Awaitable[List[Cell]]]


# ---------------------------------------------------------------------------------------------
# defaults: a Python default beside a server default, after an INSERT flush
# ---------------------------------------------------------------------------------------------


#: Text columns a cell can give a SQL expression before the INSERT.
SQL_GIVEN_READS = ["label", "both_scalar", "server_only", "python_only"]


def construct(model: type, how: str, attr: str) -> Any:
    if how == "not given":
        return model(label="x")
    if how == "given None":
        return model(label="x", **{key: None for key in defaulted_columns(model)
                                   if key in _init_keys(model)})
    if how == "given a SQL expression":
        return model(**{"label": "x", attr: func.lower("GIVEN-SQL")})
    raise ValueError(how)


def _init_keys(model: type) -> List[str]:
    fields = getattr(model, "__dataclass_fields__", None)
    if fields is None:
        return defaulted_columns(model)
    return [name for name, f in fields.items() if f.init]


async def defaults_cells(backend: Backend) -> List[Cell]:
    cells = []
    for model in DEFAULTS_MODELS:
        for how in ("not given", "given None", "given a SQL expression"):
            if how != "not given" and model is DefaultsDataclassInitFalse:
                continue  # init=False columns cannot be passed to the constructor
            if how == "given a SQL expression" and model.__name__ not in SQL_GIVEN_MODELS:
                continue
            reads = SQL_GIVEN_READS if how == "given a SQL expression" else defaulted_columns(model)
            for attr in reads:
                if how == "given None" and attr not in _init_keys(model):
                    continue
                cell = Cell("defaults", f"{model.__name__}, {how}", attr)
                async with backend.session() as s:
                    obj = construct(model, how, attr)
                    cell.facts["set_before_flush"] = attr in obj.__dict__
                    s.add(obj)
                    await s.flush()
                    backend.log.take()
                    cell.facts.update(state_facts(obj, attr))
                    read_now(obj, attr, cell, backend.log)
                cells.append(cell)
        cells.append(await stored_values(backend, model))
    return cells


async def stored_values(backend: Backend, model: type, group: str = "defaults") -> Cell:
    """Which columns the INSERT named, and what the row holds afterwards."""
    cell = Cell(group, f"{model.__name__}, not given", "(row)")
    async with backend.session() as s:
        obj = model(label="x")
        s.add(obj)
        await s.flush()
        statements = backend.log.take_full()
        insert_sql = next(st for st in statements if st.lstrip().upper().startswith("INSERT"))
        columns = re.search(r"\(([^)]*)\)", insert_sql).group(1)
        cell.facts["insert_names"] = [c.strip().strip('"`') for c in columns.split(",")]
        row = (await s.execute(select(model.__table__).where(model.__table__.c.id == obj.id))
               ).mappings().one()
        cell.facts["stored"] = {key: describe(row[key]) for key in defaulted_columns(model)}
        await s.rollback()
    cell.outcome = "probe"
    return cell


async def default_beside_server_cells(backend: Backend) -> List[Cell]:
    """A column with a Python default (constant, callable, lambda, context callable) or a SQL
    default beside a server_default, not given (or given None) before the INSERT flush, under
    each eager_defaults setting and with implicit_returning=False."""
    cells = []
    for model in BESIDE_MODELS:
        for how in ("not given", "given None"):
            for attr in defaulted_columns(model):
                cell = Cell("default-beside-server", f"{model.__name__}, {how}", attr)
                async with backend.session() as s:
                    obj = construct(model, how, attr)
                    cell.facts["set_before_flush"] = attr in obj.__dict__
                    s.add(obj)
                    backend.log.take()
                    await s.flush()
                    cell.facts["flush_sql"] = backend.log.take()
                    cell.facts.update(state_facts(obj, attr))
                    read_now(obj, attr, cell, backend.log)
                    await s.rollback()
                cells.append(cell)
        cells.append(await stored_values(backend, model, "default-beside-server"))
    return cells


# ---------------------------------------------------------------------------------------------
# refresh: does a plain refresh(obj) re-apply the loader options the object was loaded with?
# ---------------------------------------------------------------------------------------------


async def load_author(s: AsyncSession, how: str, author_id: int) -> Author:
    by_id = select(Author).where(Author.id == author_id)
    if how == "select + selectinload":
        return (await s.execute(by_id.options(selectinload(Author.books)))).scalar_one()
    if how == "select + joinedload":
        return (await s.execute(by_id.options(joinedload(Author.books)))).unique().scalar_one()
    if how == "get + selectinload":
        return await s.get(Author, author_id, options=[selectinload(Author.books)])
    if how == "get + joinedload":
        return await s.get(Author, author_id, options=[joinedload(Author.books)])
    if how == "select, no options":
        return (await s.execute(by_id)).scalar_one()
    if how == "get, then select + selectinload":
        # The first object is held: the identity map keeps only referenced objects.
        first = await s.get(Author, author_id)
        again = (await s.execute(by_id.options(selectinload(Author.books)))).scalar_one()
        assert again is first
        return again
    if how == "get, then select + selectinload + populate_existing":
        first = await s.get(Author, author_id)
        again = (await s.execute(by_id.options(selectinload(Author.books))
                                 .execution_options(populate_existing=True))).scalar_one()
        assert again is first
        return again
    raise ValueError(how)


AUTHOR_LOADS = ["select + selectinload", "select + joinedload", "get + selectinload",
                "get + joinedload", "select, no options", "get, then select + selectinload",
                "get, then select + selectinload + populate_existing",
                "new, flushed, then select + selectinload"]

# (name, expire_on_commit of the session, the action)
REFRESH_ACTIONS: List[Tuple[str, bool, Callable[[AsyncSession, Any], Awaitable[None]]]] = []


def action(name: str, expire_on_commit: bool = True):
    def register(fn):
        REFRESH_ACTIONS.append((name, expire_on_commit, fn))
        return fn
    return register


@action("nothing")
async def _nothing(s, obj):
    pass


@action("refresh(obj)")
async def _refresh(s, obj):
    await s.refresh(obj)


@action("refresh(obj, [column])")
async def _refresh_column(s, obj):
    await s.refresh(obj, ["name" if isinstance(obj, Author) else "title"])


@action("refresh(obj, [relationship])")
async def _refresh_relationship(s, obj):
    await s.refresh(obj, ["books" if isinstance(obj, Author) else "author"])


@action("expire(obj), refresh(obj)")
async def _expire_refresh(s, obj):
    s.expire(obj)
    await s.refresh(obj)


@action("commit (expire_on_commit=True)")
async def _commit(s, obj):
    await s.commit()


@action("commit (expire_on_commit=True), refresh(obj)")
async def _commit_refresh(s, obj):
    await s.commit()
    await s.refresh(obj)


@action("commit (expire_on_commit=False), refresh(obj)", expire_on_commit=False)
async def _commit_keep_refresh(s, obj):
    await s.commit()
    await s.refresh(obj)


@action("flush of a column change (UPDATE), refresh(obj)")
async def _update_refresh(s, obj):
    if isinstance(obj, Author):
        obj.name = "renamed"
    else:
        obj.title = "renamed"
    await s.flush()
    await s.refresh(obj)


async def refresh_cells(backend: Backend) -> List[Cell]:
    cells = []
    for load in AUTHOR_LOADS:
        for name, expire_on_commit, act in REFRESH_ACTIONS:
            cell = Cell("refresh", f"Author by {load}; {name}", "books")
            async with backend.session(expire_on_commit=expire_on_commit) as s:
                if load.startswith("new"):
                    author = Author(name="a")
                    s.add(author)
                    await s.flush()
                    s.add_all([Book(title="b1", author_id=author.id),
                               Book(title="b2", author_id=author.id)])
                    await s.flush()
                    author = (await s.execute(
                        select(Author).where(Author.id == author.id)
                        .options(selectinload(Author.books)))).scalar_one()
                else:
                    seeded = Author(name="a", books=[Book(title="b1"), Book(title="b2")])
                    await backend.seed(seeded)
                    author = await load_author(s, load, seeded.id)
                author_id = author.id
                cell.facts["loaded_before"] = "books" in author.__dict__
                # A book the collection cannot know of: a reloaded collection has it.
                await s.execute(insert(Book).values(title="late", author_id=author_id))
                backend.log.take()
                await act(s, author)
                cell.facts["action_sql"] = backend.log.take()
                in_db = await s.scalar(select(func.count()).select_from(Book)
                                       .where(Book.author_id == author_id))
                backend.log.take()
                cell.facts["books_in_db"] = in_db
                cell.facts.update(state_facts(author, "books"))
                value = read_now(author, "books", cell, backend.log)
                if value is not None:
                    cell.facts["reloaded"] = len(value) == in_db
                if s.in_transaction():
                    await s.rollback()
            cells.append(cell)
    for load in ("select + joinedload", "select + selectinload", "get + joinedload",
                 "select, no options"):
        for name, expire_on_commit, act in REFRESH_ACTIONS:
            if name.startswith("flush"):
                continue
            cell = Cell("refresh", f"Book by {load}; {name}", "author")
            seeded = Book(title="b", author=Author(name="a"))
            await backend.seed(seeded)
            async with backend.session(expire_on_commit=expire_on_commit) as s:
                by_id = select(Book).where(Book.id == seeded.id)
                if load == "select + joinedload":
                    book = (await s.execute(by_id.options(joinedload(Book.author)))).scalar_one()
                elif load == "select + selectinload":
                    book = (await s.execute(by_id.options(selectinload(Book.author)))).scalar_one()
                elif load == "get + joinedload":
                    book = await s.get(Book, seeded.id, options=[joinedload(Book.author)])
                else:
                    book = (await s.execute(by_id)).scalar_one()
                    author = await s.get(Author, book.author_id)  # held: in the identity map
                    cell.facts["author_held"] = author is not None
                backend.log.take()
                await act(s, book)
                cell.facts["action_sql"] = backend.log.take()
                cell.facts.update(state_facts(book, "author"))
                read_now(book, "author", cell, backend.log)
                if s.in_transaction():
                    await s.rollback()
            cells.append(cell)
    return cells


# ---------------------------------------------------------------------------------------------
# reselect: what session.get() and a select() by primary key reload on an object in the session
# ---------------------------------------------------------------------------------------------

# (name, the reads it is measured for)
RESELECT_BEFORE = [
    ("loaded, then commit (expire_on_commit=True)", ("name", "books")),
    ("loaded, then expire(obj, ['name'])", ("name",)),
    ("loaded without options (books unloaded)", ("books",)),
    ("new, flushed (created_at: server default)", ("created_at", "books")),
]


async def reload_author(s: AsyncSession, how: str, author_id: int) -> Author:
    by_id = select(Author).where(Author.id == author_id)
    if how == "get(Model, id)":
        return await s.get(Author, author_id)
    if how == "get(Model, id, options=[selectinload])":
        return await s.get(Author, author_id, options=[selectinload(Author.books)])
    if how == "get(Model, id, populate_existing=True)":
        return await s.get(Author, author_id, populate_existing=True)
    if how == "select by id":
        return (await s.execute(by_id)).scalar_one()
    if how == "select by id + selectinload":
        return (await s.execute(by_id.options(selectinload(Author.books)))).scalar_one()
    if how == "select by id, populate_existing":
        return (await s.execute(by_id.execution_options(populate_existing=True))).scalar_one()
    raise ValueError(how)


RELOADS = ["get(Model, id)", "get(Model, id, options=[selectinload])",
           "get(Model, id, populate_existing=True)", "select by id", "select by id + selectinload",
           "select by id, populate_existing"]


async def reselect_cells(backend: Backend) -> List[Cell]:
    cells = []
    for before, reads in RESELECT_BEFORE:
        for how in RELOADS:
            for attr in reads:
                cell = Cell("reselect", f"{before}; {how}", attr)
                async with backend.session() as s:
                    if before.startswith("new"):
                        author = Author(name="a")
                        s.add(author)
                        await s.flush()
                    else:
                        seeded = Author(name="a", books=[Book(title="b1")])
                        await backend.seed(seeded)
                        author = await s.get(Author, seeded.id)
                    author_id = author.id
                    if "commit" in before:
                        await s.commit()
                    elif "expire" in before:
                        s.expire(author, ["name"])
                    backend.log.take()
                    again = await reload_author(s, how, author_id)
                    cell.facts["same_object"] = again is author
                    cell.facts["reload_sql"] = backend.log.take()
                    cell.facts.update(state_facts(author, attr))
                    read_now(author, attr, cell, backend.log)
                    await s.rollback()
                cells.append(cell)
    return cells


# ---------------------------------------------------------------------------------------------
# fk-only: an object given only its foreign key, then flushed
# ---------------------------------------------------------------------------------------------


def build_member(model: type, style: str, team_id: int) -> Any:
    data = {"name": "m", "team_id": team_id}
    if style == "Model(team_id=...)":
        return model(name="m", team_id=team_id)
    if style == "Model(**data)":
        return model(**data)
    if style == "obj.team_id = ...":
        member = model(name="m")
        member.team_id = team_id
        return member
    if style == "setattr loop over data":
        member = model()
        for key, value in data.items():
            setattr(member, key, value)
        return member
    raise ValueError(style)


MEMBER_STYLES = ["Model(team_id=...)", "Model(**data)", "obj.team_id = ...",
                 "setattr loop over data"]
TEAM_WHERE = ["loaded in this session", "added and flushed in this session",
              "loaded in this session, then expired by commit", "loaded in another session",
              "never loaded"]


async def fk_only_cells(backend: Backend) -> List[Cell]:
    cells = []
    for where in TEAM_WHERE:
        for style in MEMBER_STYLES:
            for lazy, model in MEMBERS.items():
                cell = Cell("fk-only", f"team {where}; {style}; lazy={lazy}", "team")
                seeded = Team(name="t")
                await backend.seed(seeded)
                team_id = seeded.id
                async with backend.session() as s:
                    team = None
                    if where == "loaded in this session":
                        team = await s.get(Team, team_id)
                    elif where == "added and flushed in this session":
                        team = Team(name="t2")
                        s.add(team)
                        await s.flush()
                        team_id = team.id
                    elif where == "loaded in this session, then expired by commit":
                        team = await s.get(Team, team_id)
                        await s.commit()
                    elif where == "loaded in another session":
                        async with backend.session() as other:
                            await other.get(Team, team_id)
                    member = build_member(model, style, team_id)
                    s.add(member)
                    backend.log.take()
                    await s.flush()
                    backend.log.take()
                    cell.facts.update(state_facts(member, "team"))
                    value = read_now(member, "team", cell, backend.log)
                    if value is not None and team is not None:
                        cell.facts["is_that_team"] = value is team
                    await s.rollback()
                cells.append(cell)
    return cells


# ---------------------------------------------------------------------------------------------
# blocks: reads after `async with` session blocks and after close()
# ---------------------------------------------------------------------------------------------

# (name of the read, which object: "loaded" or "new", the attribute)
BLOCK_READS = [
    ("loaded column", "loaded", "title"),
    ("loaded primary key", "loaded", "id"),
    ("column expired by expire(obj, [name])", "loaded", "title"),
    ("relationship never loaded", "loaded", "tags"),
    ("new object, column given a value", "new", "title"),
    ("new object, server_default column", "new", "created_at"),
]

BLOCKS = [
    ("async with factory.begin() as s", True),
    ("async with factory.begin() as s", False),
    ("async with s.begin() (session stays open)", True),
    ("async with s.begin() (session stays open)", False),
    ("async with factory() as s, no commit", True),
    ("async with factory() as s, commit inside", True),
    ("async with factory() as s, commit inside", False),
    ("await s.close(), no commit", True),
    ("await s.commit(); await s.close()", True),
    ("await s.commit(); await s.close()", False),
]


async def blocks_cells(backend: Backend) -> List[Cell]:
    cells = []
    for block, expire_on_commit in BLOCKS:
        for read, which, attr in BLOCK_READS:
            cell = Cell("blocks", f"{block} (expire_on_commit={expire_on_commit})", read)
            seeded = Note(title="n", tags=[Tag(label="t")])
            await backend.seed(seeded)
            factory = backend.factory(expire_on_commit)
            objects: Dict[str, Any] = {}

            async def work(s: AsyncSession) -> None:
                objects["loaded"] = await s.get(Note, seeded.id)
                objects["new"] = Note(title="new")
                s.add(objects["new"])
                await s.flush()
                if read.startswith("column expired"):
                    s.expire(objects["loaded"], ["title"])

            open_session: Optional[AsyncSession] = None
            if block.startswith("async with factory.begin()"):
                async with factory.begin() as s:
                    await work(s)
            elif block.startswith("async with s.begin()"):
                open_session = factory()
                async with open_session.begin():
                    await work(open_session)
            elif block == "async with factory() as s, no commit":
                async with factory() as s:
                    await work(s)
            elif block == "async with factory() as s, commit inside":
                async with factory() as s:
                    await work(s)
                    await s.commit()
            elif block == "await s.close(), no commit":
                s = factory()
                await work(s)
                await s.close()
            elif block == "await s.commit(); await s.close()":
                s = factory()
                await work(s)
                await s.commit()
                await s.close()
            else:
                raise ValueError(block)
            backend.log.take()
            obj = objects[which]
            cell.facts.update(state_facts(obj, attr))
            read_now(obj, attr, cell, backend.log)
            if open_session is not None:
                await open_session.close()
            cells.append(cell)
    return cells


# ---------------------------------------------------------------------------------------------
# setattr: setattr(obj, key, value) in a loop against obj.key = value
# ---------------------------------------------------------------------------------------------


def write_name(obj: Gadget, style: str) -> None:
    if style == "obj.name = new":
        obj.name = "new"
    elif style == "setattr(obj, 'name', new)":
        setattr(obj, "name", "new")
    elif style == "setattr loop over a dict of new values":
        for key, value in {"name": "new", "size": 7}.items():
            setattr(obj, key, value)
    elif style == "setattr loop over a dict of the current values":
        for key, value in {"name": "g", "size": 1}.items():
            setattr(obj, key, value)
    elif style == "obj.name = current value":
        obj.name = "g"
    else:
        raise ValueError(style)


WRITE_STYLES = ["obj.name = new", "setattr(obj, 'name', new)",
                "setattr loop over a dict of new values",
                "setattr loop over a dict of the current values", "obj.name = current value"]


async def setattr_cells(backend: Backend) -> List[Cell]:
    cells = []
    for style in WRITE_STYLES:
        for attr in ("touched_at", "name"):
            cell = Cell("setattr", style, attr)
            seeded = Gadget(name="g", size=1, touched_at=FIXED_TIME)
            await backend.seed(seeded)
            async with backend.session() as s:
                gadget = await s.get(Gadget, seeded.id)
                write_name(gadget, style)
                cell.facts["in_session_dirty"] = gadget in s.dirty
                cell.facts["is_modified"] = s.is_modified(gadget)
                backend.log.take()
                await s.flush()
                cell.facts["flush_sql"] = backend.log.take()
                cell.facts.update(state_facts(gadget, attr))
                read_now(gadget, attr, cell, backend.log)
                await s.rollback()
            cells.append(cell)
    return cells


EXPIRIES = ["nothing expired", "expire(obj)", "expire(obj, ['size'])"]


async def expired_update_cells(backend: Backend) -> List[Cell]:
    """An object expired, then changed (or not) and flushed: which attributes does the flush
    that UPDATEs it load again?"""
    cells = []
    for expiry in EXPIRIES:
        for change in ("name changed", "no change"):
            for attr in ("id", "size", "name", "touched_at"):
                cell = Cell("expired-update", f"{expiry}, {change}", attr)
                seeded = Gadget(name="g", size=1, touched_at=FIXED_TIME)
                await backend.seed(seeded)
                async with backend.session() as s:
                    gadget = await s.get(Gadget, seeded.id)
                    if expiry == "expire(obj)":
                        s.expire(gadget)
                    elif expiry != "nothing expired":
                        s.expire(gadget, ["size"])
                    if change == "name changed":
                        gadget.name = "h"
                    backend.log.take()
                    await s.flush()
                    cell.facts["flush_sql"] = backend.log.take()
                    cell.facts.update(state_facts(gadget, attr))
                    read_now(gadget, attr, cell, backend.log)
                    await s.rollback()
                cells.append(cell)
    return cells


# ---------------------------------------------------------------------------------------------
# plain-refresh: which relationships does a plain refresh(obj) load, after a commit or not?
# ---------------------------------------------------------------------------------------------

#: The collections of Parent and the table each one's rows live in.
PARENT_COLLECTIONS = {"children": Child, "selectin_children": SelectinChild,
                      "joined_children": JoinedChild}

PARENT_LOADS = ["select + selectinload(children)", "select + joinedload(children)",
                "select, no options", "new, flushed", "new with children assigned, flushed"]

# (the object's class, how it came into the session)
MANY_TO_ONE_LOADS = [
    ("Child", "select + selectinload(parent)"),
    ("Child", "select + joinedload(parent)"),
    ("Child", "select, no options; parent not in the session"),
    ("Child", "select, no options; parent loaded by get() and held"),
    ("Child", "new (Child(parent_id=...)), flushed; parent not in the session"),
    ("Child", "new (Child(parent_id=...)), flushed; parent loaded by get() and held"),
    ("Pupil", "select, no options; parent not in the session"),
    ("Pupil", "new (Pupil(parent_id=...)), flushed; parent not in the session"),
    ("Pupil", "new (Pupil(parent_id=...)), flushed; parent loaded by get() and held"),
]

# (name, expire_on_commit of the session); "[rel]" is the relationship the cell reads.
PLAIN_REFRESH_ACTIONS = [
    ("nothing", True),
    ("refresh(obj)", True),
    ("refresh(obj, [rel])", True),
    ("commit (expire_on_commit=True)", True),
    ("commit (expire_on_commit=True), refresh(obj)", True),
    ("commit (expire_on_commit=False), refresh(obj)", False),
    ("commit (expire_on_commit=True), refresh(obj, [rel])", True),
]


async def plain_refresh_act(s: AsyncSession, obj: Any, name: str, rel: str) -> None:
    if name.startswith("commit"):
        await s.commit()
    if name.endswith("refresh(obj)"):
        await s.refresh(obj)
    elif name.endswith("refresh(obj, [rel])"):
        await s.refresh(obj, [rel])


async def load_parent(s: AsyncSession, how: str, seeded_id: Optional[int]) -> Parent:
    by_id = select(Parent).where(Parent.id == seeded_id)
    if how == "select + selectinload(children)":
        by_id = by_id.options(selectinload(Parent.children))
    elif how == "select + joinedload(children)":
        by_id = by_id.options(joinedload(Parent.children))
    elif how.startswith("new"):
        parent = Parent(name="new")
        if how == "new with children assigned, flushed":
            parent.children = [Child(name="c1"), Child(name="c2")]
        s.add(parent)
        await s.flush()
        return parent
    return (await s.execute(by_id)).unique().scalar_one()


async def plain_refresh_cells(backend: Backend) -> List[Cell]:
    cells = []
    for load in PARENT_LOADS:
        for name, expire_on_commit in PLAIN_REFRESH_ACTIONS:
            for attr in ("children", "selectin_children", "joined_children", "name"):
                rel = attr if attr != "name" else "children"
                act_name = name.replace("[rel]", f"[{rel}]")
                cell = Cell("plain-refresh", f"Parent by {load}; {act_name}", attr)
                seeded = Parent(name="p", children=[Child(name="c1"), Child(name="c2")],
                                selectin_children=[SelectinChild()],
                                joined_children=[JoinedChild()])
                await backend.seed(seeded)
                async with backend.session(expire_on_commit=expire_on_commit) as s:
                    parent = await load_parent(s, load, seeded.id)
                    parent_id = parent.id
                    cell.facts["loaded_before"] = attr in parent.__dict__
                    # A row of every collection that a loaded collection cannot know of: a
                    # collection loaded again by the action has it.
                    for model in PARENT_COLLECTIONS.values():
                        values = {"parent_id": parent_id}
                        if model is Child:
                            values["name"] = "late"
                        await s.execute(insert(model).values(**values))
                    backend.log.take()
                    await plain_refresh_act(s, parent, name, rel)
                    cell.facts["action_sql"] = backend.log.take()
                    in_db = None
                    if attr in PARENT_COLLECTIONS:
                        model = PARENT_COLLECTIONS[attr]
                        in_db = await s.scalar(select(func.count()).select_from(model)
                                               .where(model.parent_id == parent_id))
                        backend.log.take()
                    cell.facts.update(state_facts(parent, attr))
                    value = read_now(parent, attr, cell, backend.log)
                    if value is not None and in_db is not None:
                        cell.facts["reloaded"] = len(value) == in_db
                    if s.in_transaction():
                        await s.rollback()
                cells.append(cell)
    for kind, load in MANY_TO_ONE_LOADS:
        model = Child if kind == "Child" else Pupil
        for name, expire_on_commit in PLAIN_REFRESH_ACTIONS:
            cell = Cell("plain-refresh", f"{kind} by {load}; {name.replace('[rel]', '[parent]')}",
                        "parent")
            seeded_parent = Parent(name="p")
            await backend.seed(seeded_parent)
            seeded = model(name="c", parent_id=seeded_parent.id)
            await backend.seed(seeded)
            async with backend.session(expire_on_commit=expire_on_commit) as s:
                held = None
                if load.endswith("loaded by get() and held"):
                    held = await s.get(Parent, seeded_parent.id)
                by_id = select(model).where(model.id == seeded.id)
                if load.startswith("new"):
                    obj = model(name="new", parent_id=seeded_parent.id)
                    s.add(obj)
                    await s.flush()
                else:
                    if load == "select + selectinload(parent)":
                        by_id = by_id.options(selectinload(Child.parent))
                    elif load == "select + joinedload(parent)":
                        by_id = by_id.options(joinedload(Child.parent))
                    obj = (await s.execute(by_id)).unique().scalar_one()
                cell.facts["loaded_before"] = "parent" in obj.__dict__
                backend.log.take()
                await plain_refresh_act(s, obj, name, "parent")
                cell.facts["action_sql"] = backend.log.take()
                cell.facts.update(state_facts(obj, "parent"))
                if held is not None:
                    cell.facts["held_parent_expired"] = inspect(held).expired
                value = read_now(obj, "parent", cell, backend.log)
                if value is not None and held is not None:
                    cell.facts["is_that_parent"] = value is held
                if s.in_transaction():
                    await s.rollback()
            cells.append(cell)
    return cells


# ---------------------------------------------------------------------------------------------
# get-expired: session.get() of an object in the identity map that was expired
# ---------------------------------------------------------------------------------------------

# (what happened to the loaded object, expire_on_commit of the session)
GET_BEFORE = [
    ("nothing expired", True),
    ("commit (expire_on_commit=True)", True),
    ("commit (expire_on_commit=False)", False),
    ("expire(obj)", True),
    ("expire_all()", True),
    ("rollback()", True),
    ("expire(obj, ['name'])", True),
    ("commit (expire_on_commit=True), the reference dropped", True),
]

GET_CALLS = ["no get()", "get(M, id)", "get(M, id, populate_existing=True)",
             "get(M, id, options=[selectinload(entries)])",
             "get(M, id, options=[selectinload(entries)], populate_existing=True)"]


async def get_ledger(s: AsyncSession, how: str, ledger_id: int) -> Optional[Ledger]:
    if how == "get(M, id)":
        return await s.get(Ledger, ledger_id)
    if how == "get(M, id, populate_existing=True)":
        return await s.get(Ledger, ledger_id, populate_existing=True)
    if how == "get(M, id, options=[selectinload(entries)])":
        return await s.get(Ledger, ledger_id, options=[selectinload(Ledger.entries)])
    if how == "get(M, id, options=[selectinload(entries)], populate_existing=True)":
        return await s.get(Ledger, ledger_id, options=[selectinload(Ledger.entries)],
                           populate_existing=True)
    raise ValueError(how)


async def get_expired_cells(backend: Backend) -> List[Cell]:
    """An object loaded by get(), then expired whole or in part (or not), then fetched by
    get() again: is what get() returns loaded?"""
    cells = []
    for before, expire_on_commit in GET_BEFORE:
        for how in GET_CALLS:
            if how == "no get()" and before.endswith("dropped"):
                continue  # nothing left to read
            for attr in ("id", "name", "created_at", "memo", "entries"):
                cell = Cell("get-expired", f"{before}; {how}", attr)
                seeded = Ledger(name="l", memo="m", entries=[Entry()])
                await backend.seed(seeded)
                ledger_id = seeded.id
                async with backend.session(expire_on_commit=expire_on_commit) as s:
                    ledger: Optional[Ledger] = await s.get(Ledger, ledger_id)
                    if before.startswith("commit"):
                        await s.commit()
                    elif before == "expire(obj)":
                        s.expire(ledger)
                    elif before == "expire_all()":
                        s.expire_all()
                    elif before == "rollback()":
                        await s.rollback()
                    elif before.startswith("expire(obj, "):
                        s.expire(ledger, ["name"])
                    if before.endswith("dropped"):
                        ledger = None
                    key = inspect(Ledger).identity_key_from_primary_key((ledger_id,))
                    cell.facts["in_identity_map"] = key in s.sync_session.identity_map
                    backend.log.take()
                    if how != "no get()":
                        again = await get_ledger(s, how, ledger_id)
                        cell.facts["get_sql"] = backend.log.take()
                        if ledger is not None:
                            cell.facts["same_object"] = again is ledger
                        ledger = again
                    cell.facts.update(state_facts(ledger, attr))
                    read_now(ledger, attr, cell, backend.log)
                    if s.in_transaction():
                        await s.rollback()
                cells.append(cell)
    # The relationships get() loads again with the columns: eager ones on the mapper, and the
    # loader options of the query that first loaded the object.
    for first in ("get(M, id)", "select + selectinload(children)"):
        for before in ("nothing expired", "commit (expire_on_commit=True)", "expire(obj)",
                       "expire_all()", "rollback()"):
            for how in GET_PARENT_CALLS:
                for attr in ("children", "selectin_children", "joined_children"):
                    cell = Cell("get-expired", f"Parent by {first}, {before}; {how}", attr)
                    seeded = Parent(name="p", children=[Child(name="c1")],
                                    selectin_children=[SelectinChild()],
                                    joined_children=[JoinedChild()])
                    await backend.seed(seeded)
                    async with backend.session() as s:
                        if first == "get(M, id)":
                            parent = await s.get(Parent, seeded.id)
                        else:
                            parent = (await s.execute(
                                select(Parent).where(Parent.id == seeded.id)
                                .options(selectinload(Parent.children)))).unique().scalar_one()
                        if before.startswith("commit"):
                            await s.commit()
                        elif before == "expire(obj)":
                            s.expire(parent)
                        elif before == "expire_all()":
                            s.expire_all()
                        elif before == "rollback()":
                            await s.rollback()
                        cell.facts["loaded_before_get"] = attr in parent.__dict__
                        backend.log.take()
                        again = await get_parent(s, how, seeded.id)
                        cell.facts["get_sql"] = backend.log.take()
                        cell.facts["same_object"] = again is parent
                        cell.facts.update(state_facts(parent, attr))
                        read_now(parent, attr, cell, backend.log)
                        if s.in_transaction():
                            await s.rollback()
                    cells.append(cell)
    return cells


GET_PARENT_CALLS = ["get(M, id)", "get(M, id, populate_existing=True)",
                    "get(M, id, options=[selectinload(children)])",
                    "get(M, id, options=[selectinload(children)], populate_existing=True)",
                    "select by id, populate_existing=True"]


async def get_parent(s: AsyncSession, how: str, parent_id: int) -> Optional[Parent]:
    if how == "get(M, id)":
        return await s.get(Parent, parent_id)
    if how == "get(M, id, populate_existing=True)":
        return await s.get(Parent, parent_id, populate_existing=True)
    if how == "get(M, id, options=[selectinload(children)])":
        return await s.get(Parent, parent_id, options=[selectinload(Parent.children)])
    if how == "get(M, id, options=[selectinload(children)], populate_existing=True)":
        return await s.get(Parent, parent_id, options=[selectinload(Parent.children)],
                           populate_existing=True)
    if how == "select by id, populate_existing=True":
        return (await s.execute(select(Parent).where(Parent.id == parent_id)
                                .execution_options(populate_existing=True))).unique().scalar_one()
    raise ValueError(how)


# ---------------------------------------------------------------------------------------------
# fk-identity-map: a many-to-one given only its foreign key, by where its target is
# ---------------------------------------------------------------------------------------------

# (where the team is when the member's many-to-one is read, expire_on_commit of the session)
TEAM_STATES = [
    ("loaded by get(), held", True),
    ("loaded by select(), held", True),
    ("loaded as another member's team (selectinload), held only through it", True),
    ("loaded by get(), reference dropped", True),
    ("loaded by get(), held, expire(team)", True),
    ("loaded by get(), held, expire(team, ['name'])", True),
    ("loaded by get(), held, commit (expire_on_commit=True)", True),
    ("loaded by get(), held, commit (expire_on_commit=False)", False),
    ("loaded by get(), held, commit (expire_on_commit=True), refresh(team)", True),
    ("loaded by get(), held, commit (expire_on_commit=True), get(Team, id)", True),
    ("loaded by get() after the member's flush, held", True),
    ("never loaded", True),
    ("loaded by get(), held; member added, not flushed", True),
    ("never loaded; member added, not flushed", True),
]


async def fk_identity_map_cells(backend: Backend) -> List[Cell]:
    """``Member(team_id=...)`` (or ``Member(**data)``) added and flushed, then ``member.team``
    read, by where the team object is: in the identity map and loaded, expired, dropped, never
    there; and a member read before its flush."""
    cells = []
    for where, expire_on_commit in TEAM_STATES:
        for style in ("Model(team_id=...)", "Model(**data)"):
            for lazy, model in MEMBERS.items():
                cell = Cell("fk-identity-map", f"team {where}; {style}; lazy={lazy}", "team")
                seeded = Team(name="t")
                other = model(name="other", team=seeded)
                await backend.seed(seeded, other)
                team_id = seeded.id
                async with backend.session(expire_on_commit=expire_on_commit) as s:
                    team: Any = None
                    holder: Any = None
                    if where.startswith("loaded by get()") and "after" not in where:
                        team = await s.get(Team, team_id)
                    elif where.startswith("loaded by select()"):
                        team = (await s.execute(select(Team).where(Team.id == team_id))
                                ).scalar_one()
                    elif where.startswith("loaded as another member's team"):
                        holder = (await s.execute(
                            select(model).where(model.id == other.id)
                            .options(selectinload(model.team)))).scalar_one()
                    if "expire(team)" in where:
                        s.expire(team)
                    elif "expire(team, " in where:
                        s.expire(team, ["name"])
                    elif "commit" in where:
                        await s.commit()
                        if where.endswith("refresh(team)"):
                            await s.refresh(team)
                        elif where.endswith("get(Team, id)"):
                            await s.get(Team, team_id)
                    if "reference dropped" in where:
                        team = None
                    member = build_member(model, style, team_id)
                    s.add(member)
                    if not where.endswith("not flushed"):
                        await s.flush()
                    if "after the member's flush" in where:
                        team = await s.get(Team, team_id)
                    backend.log.take()
                    key = inspect(Team).identity_key_from_primary_key((team_id,))
                    in_map = s.sync_session.identity_map.get(key)
                    cell.facts["team_in_identity_map"] = in_map is not None
                    if in_map is not None:
                        cell.facts["team_expired"] = inspect(in_map).expired
                    in_map = None
                    cell.facts["member_pending"] = inspect(member).pending
                    cell.facts.update(state_facts(member, "team"))
                    value = read_now(member, "team", cell, backend.log)
                    if value is not None and team is not None:
                        cell.facts["is_that_team"] = value is team
                    if value is not None and holder is not None:
                        cell.facts["is_that_team"] = value is holder.__dict__.get("team")
                    await s.rollback()
                cells.append(cell)
    return cells


GROUPS: Dict[str, Scenario] = {
    "defaults": defaults_cells,
    "refresh": refresh_cells,
    "reselect": reselect_cells,
    "fk-only": fk_only_cells,
    "blocks": blocks_cells,
    "setattr": setattr_cells,
    "expired-update": expired_update_cells,
    "plain-refresh": plain_refresh_cells,
    "default-beside-server": default_beside_server_cells,
    "get-expired": get_expired_cells,
    "fk-identity-map": fk_identity_map_cells,
}


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def backends_from_environment(names: Sequence[str], sqlite_folder: str) -> List[Backend]:
    pg = os.environ.get("MEASURE_PG_URL")
    mariadb = os.environ.get("MEASURE_MARIADB_URL")
    chosen = []
    for name in names:
        if name == "postgresql" and pg:
            chosen.append(Backend(name, pg))
        elif name == "sqlite":
            chosen.append(Backend(name, f"sqlite+aiosqlite:///{sqlite_folder}/measure.db"))
        elif name == "mariadb" and mariadb:
            chosen.append(Backend(name, mariadb))
        elif name == "mysql" and mariadb:
            chosen.append(Backend(name, mariadb, no_returning=True))
        else:
            print(f"measure: skipping {name}: no server URL in the environment", file=sys.stderr)
    return chosen


def package_version(name: str) -> Optional[str]:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


async def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as folder:
        backends = backends_from_environment(args.backends.split(","), folder)
        result: Dict[str, Any] = {
            "sqlalchemy": sa.__version__,
            "python": platform.python_version(),
            "packages": {p: package_version(p)
                         for p in ("greenlet", "asyncpg", "aiosqlite", "asyncmy")},
            "accepts_default_beside_insert_default": ACCEPTS_DEFAULT_BESIDE_INSERT_DEFAULT,
            "script_sha256": hashlib.sha256(open(__file__, "rb").read()).hexdigest()[:16],
            "backends": {},
            "cells": [],
        }
        rows: Dict[Tuple[str, str, str], Dict[str, Any]] = {}
        for backend in backends:
            await backend.prepare()
            result["backends"][backend.name] = backend.facts
            for group in args.groups.split(","):
                cells = await GROUPS[group](backend)
                for cell in cells:
                    row = rows.setdefault((cell.group, cell.case, cell.read), {
                        "group": cell.group, "case": cell.case, "read": cell.read, "on": {}})
                    measured = {"outcome": cell.outcome, "surface": cell.surface,
                                "value": cell.value, **cell.facts}
                    row["on"][backend.name] = {k: v for k, v in measured.items()
                                               if v is not None}
                print(f"measure: {sa.__version__} {backend.name} {group}: {len(cells)} cells",
                      file=sys.stderr)
            await backend.engine.dispose()
        result["cells"] = list(rows.values())
    write_results(result, args.out)
    return 0


def write_results(result: Dict[str, Any], path: str) -> None:
    """One row (a case and a read, measured on every backend) per line, keys sorted."""
    head = {k: v for k, v in result.items() if k != "cells"}
    lines = ["{", *[f"  {json.dumps(k)}: {json.dumps(v, sort_keys=True)}," for k, v in
                    head.items()], '  "cells": [']
    cells = [json.dumps(c, sort_keys=True) for c in result["cells"]]
    lines += [f"    {c}," for c in cells[:-1]] + [f"    {c}" for c in cells[-1:]]
    lines += ["  ]", "}"]
    with open(path, "w") as out:
        out.write("\n".join(lines) + "\n")


def merge(into: str, run_paths: Sequence[str]) -> int:
    """Put the groups of later runs into a results file of the same SQLAlchemy version.

    A group measured later replaces that group's rows (in place when the file had it, at the end
    when not); ``later_groups`` records, per group, the backends it ran on and the script that
    measured it, since they can differ from the file's first run. The head's keys come out
    sorted."""
    with open(into) as f:
        result = json.load(f)
    for path in run_paths:
        with open(path) as f:
            later = json.load(f)
        if later["sqlalchemy"] != result["sqlalchemy"]:
            print(f"measure: {path} is SQLAlchemy {later['sqlalchemy']}, {into} is "
                  f"{result['sqlalchemy']}", file=sys.stderr)
            return 1
        groups: Dict[str, List[Dict[str, Any]]] = {}
        for row in later["cells"]:
            groups.setdefault(row["group"], []).append(row)
        for group, rows in groups.items():
            cells = result["cells"]
            at = next((i for i, row in enumerate(cells) if row["group"] == group), len(cells))
            result["cells"] = ([row for row in cells[:at] if row["group"] != group] + rows
                               + [row for row in cells[at:] if row["group"] != group])
            result.setdefault("later_groups", {})[group] = {
                "backends": sorted({b for row in rows for b in row["on"]}),
                "script_sha256": later["script_sha256"],
            }
    write_results({key: result[key] for key in sorted(result)}, into)
    return 0


def measured_cells(run_result: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The rows of a result file as one flat cell per backend."""
    return [{"group": row["group"], "case": row["case"], "read": row["read"],
             "backend": backend, **measured}
            for row in run_result["cells"] for backend, measured in row["on"].items()]


SHORT = {"ok": "ok", "MissingGreenlet": "MG", "DetachedInstanceError": "Detached",
         "InvalidRequestError": "RAISE"}


def short(cell: Dict[str, Any]) -> str:
    """The outcome as the tables show it; how MissingGreenlet surfaced is reported apart."""
    text = SHORT.get(cell["outcome"], cell["outcome"])
    facts = cell
    if cell["outcome"] == "ok" and cell["group"] == "defaults":
        text += f" {cell['value']}"
    if "reloaded" in facts:
        text += " (reloaded)" if facts["reloaded"] else " (kept)"
    if facts.get("is_that_team") is False:
        text += " (another object)"
    if cell["group"] == "fk-identity-map" and cell["outcome"] == "ok" and cell["value"] == "None":
        text += " (None, no SQL)"
    return text


def grouped(outcomes: Dict[Tuple[str, str], str]) -> str:
    """``MG: mysql; ok: mariadb, postgresql, sqlite``, versions named only where they differ."""
    backends = sorted({b for _, b in outcomes})
    versions = sorted({v for v, _ in outcomes})
    per_backend: Dict[str, str] = {}
    for backend in backends:
        seen = {outcomes[(v, backend)] for v in versions if (v, backend) in outcomes}
        if len(seen) != 1:
            break
        per_backend[backend] = seen.pop()
    else:
        by_outcome: Dict[str, List[str]] = {}
        for backend, outcome in per_backend.items():
            by_outcome.setdefault(outcome, []).append(backend)
        if len(by_outcome) == 1:
            return f"all: {next(iter(by_outcome))}"
        return "; ".join(f"{o}: {', '.join(b)}" for o, b in by_outcome.items())
    by_outcome = {}
    for (version, backend), outcome in sorted(outcomes.items()):
        by_outcome.setdefault(outcome, []).append(f"{version}/{backend}")
    return "; ".join(f"{o}: {', '.join(c)}" for o, c in by_outcome.items())


def report(paths: Sequence[str]) -> int:
    """Markdown tables: one row per case and read; the outcome on every version and backend."""
    runs = []
    for path in paths:
        with open(path) as f:
            runs.append(json.load(f))
    print("Runs: " + "; ".join(
        f"SQLAlchemy {r['sqlalchemy']} on " + ", ".join(
            f"{b} {facts['server_version']}" for b, facts in r["backends"].items())
        for r in runs))
    table: Dict[Tuple[str, str, str], Dict[Tuple[str, str], str]] = {}
    surfaces: Dict[Tuple[str, str], Dict[str, int]] = {}
    count = 0
    for r in runs:
        for cell in measured_cells(r):
            if cell["outcome"] == "probe":
                continue
            count += 1
            key = (cell["group"], cell["case"], cell["read"])
            table.setdefault(key, {})[(r["sqlalchemy"], cell["backend"])] = short(cell)
            if cell["outcome"] == "MissingGreenlet":
                seen = surfaces.setdefault((r["sqlalchemy"], cell["backend"]), {})
                seen[cell["surface"]] = seen.get(cell["surface"], 0) + 1
    print(f"{count} cells. (reloaded)/(kept): the collection holds / lacks the row inserted "
          "after the load.")
    group = None
    for (g, case, read), outcomes in table.items():
        if g != group:
            group = g
            print(f"\n### {g}\n\n| case | read | outcome |\n|---|---|---|")
        print(f"| {case} | {read} | {grouped(outcomes)} |")
    print("\n### how MissingGreenlet surfaced\n\n| version | backend | surfaces |\n|---|---|---|")
    for (version, backend), seen in sorted(surfaces.items()):
        print(f"| {version} | {backend} | {seen} |")
    print("\n### rows written by the INSERT (defaults group)\n")
    rows: Dict[str, List[str]] = {}
    for r in runs:
        for cell in measured_cells(r):
            if cell["outcome"] == "probe":
                text = (f"{cell['case']}: INSERT names {', '.join(cell['insert_names'])}"
                        f"; row {json.dumps(cell['stored'], sort_keys=True)}")
                rows.setdefault(text, []).append(f"{r['sqlalchemy']}/{cell['backend']}")
    for text, where in rows.items():
        print(f"- {text} ({', '.join(where)})")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="measure every cell on every backend")
    run_parser.add_argument("--backends", default="postgresql,sqlite,mariadb,mysql")
    run_parser.add_argument("--groups", default=",".join(GROUPS))
    run_parser.add_argument("--out", required=True, help="the JSON file to write")
    report_parser = commands.add_parser("report", help="Markdown tables from result files")
    report_parser.add_argument("paths", nargs="+")
    merge_parser = commands.add_parser(
        "merge", help="replace groups of a results file by the same groups of later runs")
    merge_parser.add_argument("into", help="the results file to update")
    merge_parser.add_argument("runs", nargs="+", help="result files of later runs (`run --groups`)")
    args = parser.parse_args(argv)
    if args.command == "run":
        return asyncio.run(run(args))
    if args.command == "merge":
        return merge(args.into, args.runs)
    return report(args.paths)


if __name__ == "__main__":
    sys.exit(main())

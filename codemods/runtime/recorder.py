"""Recording, through SQLAlchemy's public events, which statement left which attribute unloaded.

Every expiry goes through one instance event, `InstanceEvents.expire` (listened to on
`Mapper`, so every mapped class): the flush's post-fetch step names the columns the INSERT or
UPDATE did not fetch (server defaults without RETURNING, SQL `onupdate`, `column_property`),
`commit()`, `rollback()`, `expire()` and `expire_all()` expire whole objects. What the event does
not say is *which statement* it belongs to; the session events do, once per statement rather
than once per object:

- `before_flush` starts a flush, `after_flush_postexec` ends it (`pending_to_persistent` notes
  the objects it inserted);
- `before_commit` starts a commit (its flush and its expire-on-commit belong to it),
  `after_transaction_end` ends it;
- `after_rollback` starts a rollback (the objects are expired right after it), and
  `after_transaction_end` / `after_soft_rollback` end it.

The engine's `handle_error` event, for a MissingGreenlet only, stamps the object whose read
crashed (see `_on_error`).

A flush captures the user frames of its statement once (see `frames.user_stack`); a commit or a
rollback when it first expires or writes something. An expiry with no statement in progress
(`expire()`, `expire_all()`, `refresh()`, an ORM-enabled UPDATE) finds its statement from the
stack itself. A refresh's expiry is not an unloading (it reloads at
once) and is recognised from the few frames above it; a plain one is noted for the "a plain
refresh does not load relationships" hint.

What is kept: per object, a `StateRecord` in its `InstanceState`'s own `__dict__` (under
`RECORD_KEY`; the object owns its state, so the record lives exactly as long as the object, and
nothing global refers to either): the last statement that unloaded each key or the whole object,
the flush that inserted it, its last refresh, the moment it crashed and its session's last flush
then; in each Session's own `__dict__`, its last flush; per session id, the statement in
progress (dropped when it ends). A statement is an `Op`: a sequence number, its kind and the
user frames as plain tuples. Nothing refers to an ORM object, a session or a frame. No listener
changes a query, a value or SQLAlchemy's own state: they only read, and add their own key.
"""

from __future__ import annotations

import itertools
import sys
import threading
import weakref
from typing import Any, Iterable, Optional

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapper, Session, sessionmaker
from sqlalchemy.orm.attributes import instance_state

from codemods.runtime import frames

#: The `Session.info` key that marks a session (or a factory's sessions) as recorded.
INFO_KEY = "flushguard.record"

_sequence = itertools.count(1)


class Op:
    """One statement that can leave attributes unloaded.

    `kind` is "flush", "commit", "rollback" or "expire"; `call` is what the user wrote, as
    `flush()`, `autoflush`, `commit()`, `expire_all()`, ...; `frames` the user frames, innermost
    first (path, line, function, first line of the function). A commit's or a rollback's frames
    are found when it first expires or writes something (`capture`), while its statement is
    still on the stack: one that touches nothing costs no stack walk.
    """

    __slots__ = ("seq", "kind", "call", "frames", "dialect")

    def __init__(
        self, kind: str, call: str, frame_tuples: Optional[tuple], dialect: Optional[tuple] = None
    ) -> None:
        self.seq = next(_sequence)
        self.kind = kind
        self.call = call
        self.frames: Optional[tuple] = frame_tuples
        #: (name, INSERT..RETURNING, executemany RETURNING) of the session's bind, when known:
        #: the session may be closed by the time the crash is explained.
        self.dialect = dialect

    def capture(self, frame: Any) -> "Op":
        """Find the user frames from `frame` outwards, unless they are known already."""
        if self.frames is None:
            self.frames = frames.user_stack(frame)[0]
        return self

    def __repr__(self) -> str:
        where = "?" if not self.frames else f"{self.frames[0][0]}:{self.frames[0][1]}"
        return f"Op({self.kind} {self.call} at {where})"


#: An entry of a record: (Op, during an INSERT, the entry it replaced or None). Two deep: a
#: statement that runs after the crash (the rollback of a request that failed) must not hide
#: the one that unloaded the attribute.
Entry = tuple


def _push(entry: Optional[Entry], op: Op, inserting: bool = False) -> Entry:
    return (op, inserting, None if entry is None else (entry[0], entry[1], None))


def before(entry: Optional[Entry], limit: Optional[int]) -> Optional[Entry]:
    """The newest entry of `entry`'s chain older than `limit` (a sequence number), if any."""
    if limit is None:
        return entry
    while entry is not None and entry[0].seq > limit:
        entry = entry[2]
    return entry


class StateRecord:
    """What happened to one object: `keys` maps an attribute to the entry of the statement that
    expired it on its own; `whole` is the entry of the last statement that expired every
    attribute; `inserted_by` the flush that inserted it; `refreshed_at` the sequence number of
    its last plain `refresh(obj)` (one that names no attributes: it skips lazy relationships);
    `crashed_at` the sequence number of its last MissingGreenlet (statements after it did not
    cause it) and `flush_at_crash` its session's last flush at that moment."""

    __slots__ = (
        "keys", "whole", "inserted_by", "refreshed_at", "crashed_at", "flush_at_crash",
        "__weakref__",
    )

    def __init__(self) -> None:
        self.keys: dict[str, Entry] = {}
        self.whole: Optional[Entry] = None
        self.inserted_by: Optional[Op] = None
        self.refreshed_at: Optional[int] = None
        self.crashed_at: Optional[int] = None
        self.flush_at_crash: Optional[Op] = None


#: The key of an object's record in its InstanceState's `__dict__` (pickling leaves it out: the
#: state pickles a fixed list of its own keys).
RECORD_KEY = "_flushguard_record"

#: The key of a session's last flush in the Session's own `__dict__`.
LAST_FLUSH_KEY = "_flushguard_last_flush"
#: The statement in progress, by `Session.hash_key` (removed when the statement ends).
_current: dict[int, Op] = {}

_lock = threading.Lock()
_installed = False
_record_all = False
_engines: "weakref.WeakSet[Any]" = weakref.WeakSet()


# ----------------------------------------------------------------------------------------------
# Turning it on and off
# ----------------------------------------------------------------------------------------------


def start(target: Any = None) -> None:
    """Record for `target`: None (every session), a session factory, a session, or an engine.

    A factory (`sessionmaker`, `async_sessionmaker`) or a session is marked through its
    `info` dictionary, which SQLAlchemy copies into every session the factory makes; an engine
    (`Engine`, `AsyncEngine`) is matched against each session's bind. Calling it again adds
    scopes; the listeners are installed once.
    """
    global _record_all
    if target is None:
        _record_all = True
    elif _is_engine(target):
        _engines.add(getattr(target, "sync_engine", target))
    elif isinstance(target, sessionmaker) or type(target).__name__ == "async_sessionmaker":
        info = dict(target.kw.get("info") or {})
        info[INFO_KEY] = True
        target.kw["info"] = info
    else:
        session = getattr(target, "sync_session", target)
        if not isinstance(session, Session):
            raise TypeError(
                "record() takes a session factory (sessionmaker, async_sessionmaker), a"
                f" session, an engine or nothing (every session), not {type(target).__name__}"
            )
        session.info[INFO_KEY] = True
    _install()


def stop() -> None:
    """Remove every listener and forget every record and scope."""
    global _installed, _record_all
    with _lock:
        if _installed:
            for name, listener in _SESSION_LISTENERS:
                event.remove(Session, name, listener)
            event.remove(Mapper, "expire", _on_expire)
            event.remove(Engine, "handle_error", _on_error)
            _installed = False
        _record_all = False
        _engines.clear()
        _current.clear()


def is_recording() -> bool:
    return _installed


def _is_engine(target: Any) -> bool:
    from sqlalchemy.engine import Engine

    return isinstance(getattr(target, "sync_engine", target), Engine)


def _install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        for name, listener in _SESSION_LISTENERS:
            event.listen(Session, name, listener, raw=True)
        event.listen(Mapper, "expire", _on_expire, raw=True)
        event.listen(Engine, "handle_error", _on_error)
        _installed = True


def _recorded(session: Any) -> bool:
    if _record_all:
        return True
    info = session.__dict__.get("info")  # `info` is created on first use: no dict, no mark
    if info is not None and info.get(INFO_KEY):
        return True
    if _engines:
        bind = session.bind
        return getattr(bind, "engine", bind) in _engines
    return False


# ----------------------------------------------------------------------------------------------
# Statements
# ----------------------------------------------------------------------------------------------


def _capture(session: Any, kind: str, call: str) -> Op:
    # Two frames up: this function, the listener; then SQLAlchemy's dispatch and the statement.
    frame = sys._getframe(2)
    frame_tuples = frames.user_stack(frame)[0]
    if kind == "flush" and _within(frame, "_autoflush", 10):
        call = "autoflush"
    return Op(kind, call, frame_tuples, _dialect_flags(session))


def _within(frame: Any, name: str, limit: int) -> bool:
    """Whether a function called `name` is among the `limit` frames from `frame` outwards."""
    for _ in range(limit):
        if frame is None:
            return False
        if frame.f_code.co_name == name:
            return True
        frame = frame.f_back
    return False


def _dialect_flags(session: Any) -> Optional[tuple]:
    dialect = getattr(session.bind, "dialect", None)
    if dialect is None:
        return None
    returning = getattr(dialect, "insert_returning", None)
    if returning is None:  # SQLAlchemy 1.4
        returning = getattr(dialect, "implicit_returning", False)
    executemany = getattr(dialect, "insert_executemany_returning", returning)
    return (dialect.name, bool(returning), bool(executemany))


def _before_flush(session: Any, flush_context: Any, instances: Any) -> None:
    if not _recorded(session):
        return
    current = _current.get(session.hash_key)
    if current is None or current.kind != "commit":
        _current[session.hash_key] = _capture(session, "flush", "flush()")


def _pending_to_persistent(session: Any, state: Any) -> None:
    """An object this flush inserted (raw: `state` is its InstanceState)."""
    op = _current.get(session.hash_key)
    if op is not None:
        _state_record(state).inserted_by = op


def _state_record(state: Any) -> StateRecord:
    values = state.__dict__
    record = values.get(RECORD_KEY)
    if record is None:
        record = values[RECORD_KEY] = StateRecord()
    return record


def _after_flush_postexec(session: Any, flush_context: Any) -> None:
    session_id = session.hash_key
    op = _current.get(session_id)
    if op is None:
        return
    if op.frames is None:
        op.capture(sys._getframe(1))  # a commit's flush: the commit is still on the stack
    session.__dict__[LAST_FLUSH_KEY] = op
    if op.kind == "flush":
        del _current[session_id]


def _before_commit(session: Any) -> None:
    if _recorded(session):
        _current[session.hash_key] = Op("commit", "commit()", None, _dialect_flags(session))


def _after_rollback(session: Any) -> None:
    if _recorded(session):
        _current[session.hash_key] = Op("rollback", "rollback()", None, _dialect_flags(session))


def _after_transaction_end(session: Any, transaction: Any) -> None:
    if transaction.nested or transaction.parent is None:
        _end_statement(session)


def _after_soft_rollback(session: Any, previous_transaction: Any) -> None:
    _end_statement(session)


def _end_statement(session: Any) -> None:
    op = _current.get(session.hash_key)
    if op is not None and op.kind in ("commit", "rollback"):
        del _current[session.hash_key]


_SESSION_LISTENERS = (
    ("before_flush", _before_flush),
    ("pending_to_persistent", _pending_to_persistent),
    ("after_flush_postexec", _after_flush_postexec),
    ("before_commit", _before_commit),
    ("after_rollback", _after_rollback),
    ("after_transaction_end", _after_transaction_end),
    ("after_soft_rollback", _after_soft_rollback),
)


# ----------------------------------------------------------------------------------------------
# Expiry
# ----------------------------------------------------------------------------------------------

#: The Session methods that expire, most specific first: a commit's expiry runs inside `commit`.
_METHOD_KINDS = (
    ("expire_all", "expire", "expire_all()"),
    ("expire", "expire", "expire()"),
    ("rollback", "rollback", "rollback()"),
    ("commit", "commit", "commit()"),
    ("flush", "flush", "flush()"),
)


def _on_expire(state: Any, keys: Optional[Iterable[str]]) -> None:
    session_id = state.session_id
    if not session_id:
        return  # not in a session: an object collected while its session expired the others
    op = _current.get(session_id)
    if op is None:
        if _in_refresh(sys._getframe(1)):
            # A refresh reloads at once: not an unloading. A plain one is noted for the hint
            # that it leaves lazy relationships unloaded.
            if keys is None:
                _state_record(state).refreshed_at = next(_sequence)
            return
        op = _statement_of_expiry(state)
        if op is None:
            return
    elif op.frames is None:
        op.capture(sys._getframe(1))
    record = _state_record(state)
    if keys is None:
        record.whole = _push(record.whole, op)
    else:
        inserting = state.key is None
        entries = record.keys
        for key in keys:
            entries[key] = _push(entries.get(key), op, inserting)


def _in_refresh(frame: Any) -> bool:
    """Whether a few frames up (the event dispatch, the state, the session) is `refresh`."""
    for _ in range(6):
        if frame is None:
            return False
        code = frame.f_code
        if code.co_name == "refresh" and code.co_filename.endswith("session.py"):
            return True
        frame = frame.f_back
    return False


def _statement_of_expiry(state: Any) -> Optional[Op]:
    """The statement behind an expiry outside a flush, commit or rollback, from the stack."""
    session = state.session
    if session is None or not _recorded(session):
        return None
    # Frames: this function, _on_expire, SQLAlchemy's dispatch, the state, the session...
    frame_tuples, methods = frames.user_stack(sys._getframe(2))
    for method, kind, call in _METHOD_KINDS:
        if method in methods:
            return Op(kind, call, frame_tuples, _dialect_flags(session))
    name = next((m for m in reversed(methods) if not m.startswith("_")), None)
    return Op("expire", f"{name}()" if name else "expire", frame_tuples, _dialect_flags(session))


def _on_error(context: Any) -> None:
    """Stamp the object whose read raised MissingGreenlet with the moment it did.

    What runs while the exception unwinds (a request's `get_db` rolling back, a session
    closing) expires the object again; the explanation must name what unloaded it *before*.
    The object is found on the stack: SQLAlchemy's attribute access is the read. Any other
    error costs one type check.
    """
    if type(context.original_exception).__name__ != "MissingGreenlet":
        return None
    frame = sys._getframe(1)
    for _ in range(80):
        if frame is None:
            return None
        code = frame.f_code
        if code.co_name in ("__get__", "__set__", "__delete__") and code.co_filename.endswith(
            "attributes.py"
        ):
            instance = frame.f_locals.get("instance")
            if instance is not None and hasattr(instance, "_sa_instance_state"):
                state = instance_state(instance)
                record = _state_record(state)
                record.crashed_at = next(_sequence)
                session = state.session
                if session is not None:
                    record.flush_at_crash = session.__dict__.get(LAST_FLUSH_KEY)
            return None
        frame = frame.f_back
    return None


# ----------------------------------------------------------------------------------------------
# Reading the records back
# ----------------------------------------------------------------------------------------------


def unloading_of(state: Any, key: str) -> tuple[Optional[Op], bool, bool]:
    """The last statement before the crash that expired `key` of `state`:
    (Op or None, during an INSERT, expired the whole object)."""
    record = state.__dict__.get(RECORD_KEY)
    if record is None:
        return None, False, False
    keyed = before(record.keys.get(key), record.crashed_at)
    whole = before(record.whole, record.crashed_at)
    if keyed is not None and (whole is None or keyed[0].seq > whole[0].seq):
        return keyed[0], keyed[1], False
    if whole is not None:
        return whole[0], False, True
    return None, False, False


def last_flush_before_crash(state: Any) -> Optional[Op]:
    """The last flush of the object's session before its crash (the session may be closed by
    now: its last flush is kept on the record when the crash happens), else the one that
    inserted it, else its session's last one."""
    record = state.__dict__.get(RECORD_KEY)
    if record is not None:
        if record.flush_at_crash is not None:
            return record.flush_at_crash
        inserted_by = record.inserted_by
        if inserted_by is not None and (
            record.crashed_at is None or inserted_by.seq < record.crashed_at
        ):
            return inserted_by
    session = state.session
    return None if session is None else last_flush_of(session)


def state_record(state: Any) -> Optional[StateRecord]:
    return state.__dict__.get(RECORD_KEY)


def last_flush_of(session: Any) -> Optional[Op]:
    return session.__dict__.get(LAST_FLUSH_KEY)

"""flushguard's runtime companion: explain a MissingGreenlet when it happens.

    from codemods.runtime import record, explain, GreenletErrorFilter

    record(SessionLocal)            # or record(engine), or record() for every session
    ...
    except Exception as exc:
        explanation = explain(exc)  # None unless exc carries a MissingGreenlet

`record` listens to SQLAlchemy's public events and remembers, per object and weakly, which
statement (`flush()`, `commit()`, `rollback()`, `expire()`) left which attribute unloaded;
`explain` reads that back from the exception's object and attribute. The pytest plugin
(`codemods.runtime.pytest_plugin`, entry point `flushguard`) does both for a test run.

Importing this package imports neither SQLAlchemy nor LibCST: `record` and `explain` import
SQLAlchemy when they are first called.
"""

from __future__ import annotations

from typing import Any, Optional

from codemods.runtime.logfilter import GreenletErrorFilter
from codemods.runtime.values import Explanation, Location, Site

__all__ = [
    "Explanation",
    "GreenletErrorFilter",
    "Location",
    "Site",
    "explain",
    "is_recording",
    "record",
    "stop_recording",
]


def record(target: Any = None) -> None:
    """Start recording for `target`: a session factory (`async_sessionmaker`, `sessionmaker`),
    a session, an engine (`AsyncEngine`, `Engine`), or None for every session.

    It costs a few microseconds per flush, commit and rollback, and one dictionary entry per
    object they unload (dropped with the object); it never changes a query or a value.
    """
    from codemods.runtime import recorder

    recorder.start(target)


def stop_recording() -> None:
    """Remove the listeners and forget every record: no cost at all afterwards."""
    import sys

    recorder = sys.modules.get("codemods.runtime.recorder")
    if recorder is not None:
        recorder.stop()


def is_recording() -> bool:
    import sys

    recorder = sys.modules.get("codemods.runtime.recorder")
    return recorder is not None and recorder.is_recording()


def explain(exc: BaseException) -> Optional[Explanation]:
    """The explanation of the MissingGreenlet that `exc` carries (raw, as `StatementError`, as
    pydantic's `ValidationError` or FastAPI's `ResponseValidationError`, in a cause, context or
    exception group), or None when it carries none.

    `site` is None when recording was off when the attribute was unloaded.
    """
    if not _mentions_missing_greenlet(exc):
        return None
    from codemods.runtime.diagnose import explain as explain_exception

    return explain_exception(exc)


def _mentions_missing_greenlet(exc: BaseException) -> bool:
    """A cheap first look (no SQLAlchemy import): MissingGreenlet's text anywhere in the chain."""
    pending: list = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen or len(seen) > 100:
            continue
        seen.add(id(current))
        if type(current).__name__ == "MissingGreenlet":
            return True
        if type(current).__name__ == "DetachedInstanceError" and "cannot proceed" in str(current):
            return True  # the same unloaded read once the session closed (a session block)
        try:
            if "greenlet_spawn has not been called" in str(current):
                return True
        except Exception:
            pass
        members = getattr(current, "exceptions", None)
        if isinstance(members, (tuple, list)):
            pending.extend(members)
        pending += [current.__cause__, current.__context__, getattr(current, "orig", None)]
    return False

"""Where a statement ran in the application's own code: the user frames of the call stack.

A flush runs deep inside SQLAlchemy, and under `AsyncSession` inside a greenlet whose stack ends
at SQLAlchemy's `greenlet_spawn`: the `await session.flush()` that asked for it is on the stack
of the greenlet that awaits. `user_stack()` walks frames (cheap: no source is read and no
traceback object is built), starting, inside SQLAlchemy's greenlet, from the frame its parent
awaits in, and keeps the consecutive frames of user code, innermost first, as plain tuples
(never the frames themselves, which would keep every local variable alive).

A file is *library* (SQLAlchemy, greenlet, the standard library, flushguard's runtime),
*third-party* (anything installed in site-packages: pytest, FastAPI, Starlette, anyio) or *user*
(everything else: the application and its tests). Classification is cached per file name.
"""

from __future__ import annotations

import os
import site
import sys
import sysconfig
from typing import Optional

#: One frame of user code: (path, line, function, first line of the function).
FrameTuple = tuple[str, int, str, int]

LIBRARY = 0
THIRD_PARTY = 1
USER = 2

#: How many consecutive user frames a site keeps (the statement, then its callers).
DEFAULT_DEPTH = 4

_kinds: dict[str, int] = {}
#: (own folders: flushguard's runtime, SQLAlchemy, greenlet; site-packages; standard library)
_folders: Optional[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = None


def _folder(path: str) -> str:
    return os.path.normcase(os.path.realpath(path)).rstrip(os.sep) + os.sep


def _configure() -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Find the library and site-packages folders (once, on first use)."""
    global _folders
    own = [_folder(os.path.dirname(__file__))]
    for name in ("sqlalchemy", "greenlet"):
        file = getattr(sys.modules.get(name), "__file__", None)
        if file:
            own.append(_folder(os.path.dirname(file)))
    paths = sysconfig.get_paths()
    third_party = {_folder(paths[key]) for key in ("purelib", "platlib") if key in paths}
    try:
        third_party.update(_folder(p) for p in site.getsitepackages())
    except AttributeError:  # pragma: no cover - a virtualenv's old site module
        pass
    stdlib = {_folder(paths[key]) for key in ("stdlib", "platstdlib") if key in paths}
    _folders = (
        tuple(own),
        tuple(sorted(third_party, key=len, reverse=True)),
        tuple(sorted(stdlib, key=len, reverse=True)),
    )
    return _folders


def classify(filename: str) -> int:
    """LIBRARY, THIRD_PARTY or USER for a code object's file name (cached)."""
    kind = _kinds.get(filename)
    if kind is not None:
        return kind
    own, third_party, stdlib = _folders if _folders is not None else _configure()
    if filename.startswith("<"):
        kind = LIBRARY  # generated code: SQLAlchemy's wrappers, frozen importlib, exec'd strings
    else:
        path = _folder(filename)
        if path.startswith(own):  # before site-packages: SQLAlchemy is installed there
            kind = LIBRARY
        elif path.startswith(third_party) or any(
            f"{os.sep}{name}{os.sep}" in path for name in ("site-packages", "dist-packages")
        ):
            kind = THIRD_PARTY
        elif path.startswith(stdlib):
            kind = LIBRARY
        else:
            kind = USER
    _kinds[filename] = kind
    return kind


def user_stack(frame, depth: int = DEFAULT_DEPTH) -> tuple[tuple[FrameTuple, ...], tuple[str, ...]]:
    """The user frames from `frame` outwards, innermost first, and the SQLAlchemy entry points.

    Frames of third-party code before the first user frame are skipped (a library that commits
    on the application's behalf is reported at the application's call into it); the walk stops
    at the first non-user frame after a user frame, or after `depth` user frames. When no user
    frame exists at all (an application installed in site-packages) the innermost third-party
    frame stands in.

    The second value lists the names of the `Session`/`AsyncSession` methods on the stack,
    innermost first (`flush`, `commit`, `execute`, `_autoflush`, ...): what the user asked
    SQLAlchemy to do. Inside SQLAlchemy's greenlet they are the `AsyncSession` method awaited
    (`flush`, or `execute` for the autoflush of a query).
    """
    found: list[FrameTuple] = []
    methods: list[str] = []
    fallback: Optional[FrameTuple] = None
    awaiting = _awaiting_frame()
    if awaiting is not None:
        # Inside SQLAlchemy's greenlet the stack is SQLAlchemy's own (or the function given to
        # `run_sync`): the statement is the `await` in the greenlet's parent, whose stack is
        # live while this one runs.
        frame = awaiting
    while frame is not None:
        code = frame.f_code
        filename = code.co_filename
        kind = _kinds.get(filename)
        if kind is None:
            kind = classify(filename)
        if kind == USER:
            found.append((filename, frame.f_lineno, code.co_name, code.co_firstlineno))
            if len(found) >= depth:
                break
        elif found:
            break
        elif kind == LIBRARY:
            if filename.endswith("session.py"):
                methods.append(code.co_name)
        elif fallback is None:
            fallback = (filename, frame.f_lineno, code.co_name, code.co_firstlineno)
        frame = frame.f_back
    if not found and fallback is not None:
        found.append(fallback)
    return tuple(found), tuple(methods)


def _awaiting_frame():
    """The frame that awaits SQLAlchemy's greenlet, when this code runs inside one."""
    greenlet_module = sys.modules.get("greenlet")
    if greenlet_module is None:
        return None
    current = greenlet_module.getcurrent()
    if not (
        getattr(current, "__sqlalchemy_greenlet_provider__", False)
        or type(current).__name__ == "_AsyncIoGreenlet"
    ):
        return None
    parent = current.parent
    return None if parent is None else parent.gr_frame


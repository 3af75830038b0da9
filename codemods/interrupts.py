"""Ctrl-C as flushguard takes it: the first one stops the run, the steps that must not be
cut in half (writing a file, moving a branch) finish first.

Until a command starts, nothing needs undoing: :func:`exit_at_once` ends the run with one
line. The command line then installs :func:`stop_once`: the first SIGINT raises
KeyboardInterrupt, and any later one is ignored, so the clean-up on the way out (workers
stopped, temporary files removed, the cache saved whole) is never itself cut short.
:func:`deferred` holds a SIGINT back over a step and delivers it once the step is done;
:func:`ignore_rest` marks the point of no return of a command, after which it finishes
whatever Ctrl-C says.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator, List


MESSAGE = "flushguard: interrupted"


def exit_at_once(signum: int, frame: Any) -> None:
    """A SIGINT handler for before a command starts: one line on stderr, exit status 130."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.stderr.write(MESSAGE + "\n")
    sys.stderr.flush()
    raise SystemExit(130)


def install_first() -> None:
    """Take Ctrl-C with :func:`exit_at_once` (the console script's first step)."""
    _install(exit_at_once)


def stop_once(signum: int, frame: Any) -> None:
    """A SIGINT handler: KeyboardInterrupt the first time, nothing after."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def install() -> Callable[[], None]:
    """Take Ctrl-C with :func:`stop_once`; returns what puts the previous handler back.
    Outside the main thread (where no handler can be set), and when SIGINT is ignored (a
    job started in the background: Python keeps it so too), nothing changes."""
    return _install(stop_once)


def _install(handler: Callable[[int, Any], None]) -> Callable[[], None]:
    if threading.current_thread() is not threading.main_thread() \
            or signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        return lambda: None
    previous = signal.signal(signal.SIGINT, handler)
    return lambda: signal.signal(signal.SIGINT, previous)


@contextmanager
def deferred() -> Iterator[None]:
    """Run the block whole: a SIGINT that arrives meanwhile takes effect when it ends, as
    the handler in place before would have taken it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: List[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught:  # even when the block failed: the interrupt comes first
            if callable(previous):
                previous(signal.SIGINT, None)
            elif previous == signal.SIG_DFL:
                os.kill(os.getpid(), signal.SIGINT)


def ignore_rest() -> None:
    """Past the point of no return (a branch is being made): under the command line, Ctrl-C
    is ignored until the command ends; elsewhere (flushguard used as a library) nothing
    changes."""
    if threading.current_thread() is threading.main_thread() \
            and signal.getsignal(signal.SIGINT) is stop_once:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def ignore() -> None:
    """Ignore Ctrl-C from now on (the run is over: its exit status stands)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)

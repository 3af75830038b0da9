"""The console script ``flushguard``, and ``python -m codemods``.

Ctrl-C is taken from the first moment: while the command line is still being loaded, an
interrupt ends the run with one line and exit status 130 (nothing has started that would
need undoing); the commands then take it over (:mod:`codemods.interrupts`). Once a command
is over, Ctrl-C is ignored while the process ends: the run's result stands.

The process ends as soon as the command has said everything: the interpreter's own
shutdown would free every object of the run one by one (the facts of a large project take
a second of CPU), for nothing.
"""

import os
import sys

from codemods import interrupts


def main() -> None:
    interrupts.install_first()
    try:
        from codemods.cli import main as commands

        commands()
        code = 0
    except SystemExit as exc:
        code = _status(exc.code)
    finally:
        interrupts.ignore()
    _end(code)


def _status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)  # what sys.exit("message") would print
    return 1


def _end(code: int) -> None:
    """Flush what was written and end the process with ``code``, skipping the shutdown."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (| head): nothing more can be said
            pass
    os._exit(code)


if __name__ == "__main__":
    main()

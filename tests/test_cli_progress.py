"""The progress bar: on stderr when it is a terminal (a pseudo-terminal here), never in a pipe."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from clikit import MODELS, REQUIREMENTS, TWO_FIXES, environment, script
from codemods.cli import _Progress

#: A run must outlast the bar's delay by this much for the bar to be drawn a few times.
LONG_ENOUGH = 3 * _Progress.DELAY


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project whose cold run outlasts the bar's delay on this machine: files are added
    (doubling) until one cold run, timed here, lasts long enough."""
    root = tmp_path_factory.mktemp("many")
    (root / "app").mkdir()
    (root / "app" / "__init__.py").write_text("")
    (root / "app" / "models.py").write_text(MODELS)
    (root / "requirements.txt").write_text(REQUIREMENTS)
    count = 0
    for _ in range(10):
        for number in range(count, max(120, 2 * count)):
            (root / "app" / f"service_{number:05}.py").write_text(TWO_FIXES)
        count = max(120, 2 * count)
        started = time.monotonic()
        subprocess.run([*script(), "check", "--no-cache", "--no-progress", "."], cwd=root,
                       capture_output=True, env=environment(), check=False)
        if time.monotonic() - started >= LONG_ENOUGH:
            break
    return root


def files_in(root: Path) -> int:
    return len(list((root / "app").glob("service_*.py")))


def run_on_a_terminal(*args: str, cwd: Path) -> tuple[int, str, bytes]:
    """(exit code, stdout from a pipe, everything written to the terminal that is stderr)."""
    controller, terminal = pty.openpty()
    output = tempfile.TemporaryFile()  # not a pipe: a large report must not block the run
    process = subprocess.Popen([*script(), *args], cwd=cwd, stdout=output,
                               stderr=terminal, stdin=subprocess.DEVNULL, env=environment())
    os.close(terminal)
    seen = bytearray()
    try:
        while True:
            ready, _, _ = select.select([controller], [], [], 60)
            if not ready:
                process.kill()
                raise AssertionError("no output from flushguard for 60 s")
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal's other end closed: the process is done with it
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(controller)
    code = process.wait(timeout=60)
    output.seek(0)
    stdout = output.read().decode()
    output.close()
    return code, stdout, bytes(seen)


def test_a_long_run_shows_a_bar_on_a_terminal_and_erases_it(many: Path) -> None:
    code, stdout, terminal = run_on_a_terminal("check", "--no-cache", ".", cwd=many)
    assert code == 1
    assert b"flushguard: analysing [" in terminal and b"#" in terminal
    # The bar is erased before the summary, which ends the terminal's output on its own line.
    last = terminal.rsplit(b"\r\x1b[K", 1)[1]
    files = files_in(many)
    assert last.startswith(f"{2 * files:,} findings in {files:,} files".encode()) and b"\x1b" not in last
    # The payload went to stdout (a file), untouched by the bar.
    assert "\x1b" not in stdout and "\r" not in stdout and len(stdout.splitlines()) == 2 * files


def test_no_progress_and_quiet_keep_the_terminal_clean(many: Path) -> None:
    _, _, terminal = run_on_a_terminal("check", "--no-progress", ".", cwd=many)
    assert b"analysing" not in terminal and b"\x1b" not in terminal
    files = files_in(many)
    assert terminal.startswith(f"{2 * files:,} findings in {files:,} files".encode())
    code, _, terminal = run_on_a_terminal("check", "--quiet", ".", cwd=many)
    assert (code, terminal) == (1, b"")


def test_a_pipe_never_gets_escape_codes(many: Path) -> None:
    done = subprocess.run([*script(), "check", "."], cwd=many, capture_output=True,
                          env=environment(), timeout=120)
    assert done.returncode == 1
    assert b"\x1b" not in done.stderr and b"\r" not in done.stderr
    files = files_in(many)
    assert done.stderr.startswith(f"{2 * files:,} findings in {files:,} files".encode())


def test_the_bar_counts_files_while_the_engine_reports_them() -> None:
    import io
    import time

    from codemods.cli import _Progress

    stream = io.StringIO()
    bar = _Progress(stream, "flushguard: analysing")
    bar.DELAY = 0.0
    with bar:
        bar.update(30, 120)
        deadline = time.monotonic() + 5
        while "30/120 files" not in stream.getvalue() and time.monotonic() < deadline:
            time.sleep(0.02)
    drawn = stream.getvalue()
    assert "[######" in drawn and "30/120 files" in drawn
    assert drawn.endswith("\r\x1b[K")  # erased at the end

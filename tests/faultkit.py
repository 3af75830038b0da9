"""Helpers for the fault tests: flushguard as a real process that is killed or interrupted.

A run is started in a process group of its own (as a shell starts a job), so that a SIGINT
sent to the group reaches flushguard and its workers and git processes as a terminal's
Ctrl-C does, and so that the test can wait until every process of the run is gone.

:func:`start` runs the console script's own ``main`` and learns when it has been entered:
Python's start-up (the ``site`` import) runs before any of flushguard's code, and a signal
there is Python's to handle, not flushguard's.
"""

from __future__ import annotations

import os
import pickle
import re
import select
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Set

from clikit import environment

#: The console script (``codemods.__main__:main``), telling the test through a pipe when it
#: is about to be called.
_LAUNCH = (
    "import os, sys\n"
    "from codemods.__main__ import main\n"
    "ready = int(sys.argv[1])\n"
    "os.write(ready, b'.')\n"
    "os.close(ready)\n"
    "sys.argv = ['flushguard', *sys.argv[2:]]\n"
    "main()\n"
)

#: What :func:`codemods.files.write_atomic` calls its temporary files.
TEMPORARY = re.compile(r"^\..+\.[^.]+\.flushguard$")


@dataclass
class Run:
    process: subprocess.Popen
    out: Path
    err: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def finish(self, timeout: float = 120) -> "Done":
        """Wait for flushguard, then for every process it started (workers, git)."""
        returncode = self.process.wait(timeout)
        wait_group_gone(self.pid)
        return Done(returncode, self.out.read_text(encoding="utf-8", errors="replace"),
                    self.err.read_text(encoding="utf-8", errors="replace"))


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


def start(args: Sequence[str], cwd: Path, logs: Path,
          env: Optional[Mapping[str, str]] = None) -> Run:
    """flushguard ``args`` in ``cwd``, once its ``main`` is about to run (output into ``logs``)."""
    logs.mkdir(parents=True, exist_ok=True)
    out, err = logs / "stdout", logs / "stderr"
    ready_read, ready_write = os.pipe()
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-c", _LAUNCH, str(ready_write), *args], cwd=cwd,
            stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, pass_fds=(ready_write,),
            start_new_session=True, env=environment(env))
    os.close(ready_write)
    try:
        readable, _, _ = select.select([ready_read], [], [], 60)
        assert readable and os.read(ready_read, 1) == b".", "flushguard did not start"
    finally:
        os.close(ready_read)
    return Run(process, out, err)


def group_members(group: int) -> List[int]:
    """Live (not zombie) processes of process group ``group``, from /proc."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc", entry, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if fields[0] != "Z" and int(fields[2]) == group:
            members.append(int(entry))
    return members


def wait_group_gone(group: int, timeout: float = 15) -> None:
    """Until every process of ``group`` has ended; an orphan that lingers fails the test."""
    deadline = time.monotonic() + timeout
    while group_members(group):
        assert time.monotonic() < deadline, f"processes left behind: {group_members(group)}"
        time.sleep(0.05)


def files_of(root: Path, skip: Sequence[str] = (".git", ".flushguard_cache")) -> Dict[str, bytes]:
    """Every file under ``root`` (relative path → bytes), outside ``skip``."""
    found = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if relative.split("/")[0] in skip or not path.is_file():
            continue
        found[relative] = path.read_bytes()
    return found


def check_whole(root: Path, before: Mapping[str, bytes], fixed: Mapping[str, bytes],
                allow_temporary: bool) -> Set[str]:
    """Each file of ``before`` holds its bytes there or in ``fixed``, byte for byte; no other
    file appeared, except (with ``allow_temporary``) temporary files of an atomic write.
    Returns those temporary files."""
    now = files_of(root)
    for name, data in before.items():
        assert now.get(name) in (data, fixed.get(name, data)), f"{name}: neither old nor fixed"
    extra = set(now) - set(before)
    temporary = {name for name in extra if TEMPORARY.match(name.rsplit("/", 1)[-1])}
    assert extra == (temporary if allow_temporary else set()), sorted(extra)
    return temporary


def check_cache_loads(root: Path) -> int:
    """Every pickle of the project's cache loads whole, as a dict; how many there are."""
    entries = list((root / ".flushguard_cache").rglob("*.pickle"))
    for entry in entries:
        with open(entry, "rb") as handle:
            assert isinstance(pickle.load(handle), dict), entry
    return len(entries)

"""Faults survived (issue 7, item 4): a dead worker, kill -9, Ctrl-C, two runs at once.

- A worker that dies (a segmentation fault in the parser, the out-of-memory killer, an exit)
  costs the file it was on, reported as an error; the run goes on with the rest.
- ``kill -9`` of ``flushguard fix`` at any moment leaves every file as it was or fully fixed,
  the cache loadable, and no worker behind.
- Ctrl-C ends a run with one line and exit status 130, every file whole, nothing left over.
- Two runs at once in one project never corrupt the cache or each other's writes.

Every test runs real processes and kills them at many points (random delays from a fixed
seed, printed on failure).
"""

from __future__ import annotations

import ast

import multiprocessing
import os
import pickle
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Dict, List

import pytest

from clikit import TWO_FIXES, flushguard, make_project
from codemods import cache as cache_mod
from codemods import engine, files
from codemods.options import load_options
from codemods.pool import FAULT_VARIABLE, Pool
from codemods.types import CallFacts, ModelIndex, Settings
from faultkit import TEMPORARY, check_cache_loads, check_whole, files_of, start

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="reads /proc to find the processes of a run")

SERVICES = 20


def fixable_project(root: Path) -> Path:
    """23 Python files (the worker pool is used), 21 of them with fixes to write."""
    extra = {f"app/service_{i:02d}.py": TWO_FIXES for i in range(SERVICES)}
    return make_project(root, repo=False, extra=extra)


@pytest.fixture(scope="module")
def expected(tmp_path_factory) -> Dict[str, Dict[str, bytes]]:
    """The project's files before and after a complete ``fix`` run."""
    project = fixable_project(tmp_path_factory.mktemp("expected") / "p")
    before = files_of(project)
    done = flushguard("fix", "--no-cache", "-j", "2", cwd=project)
    assert done.returncode == 0, done.stderr
    after = files_of(project)
    assert sum(after[n] != before[n] for n in before) == SERVICES + 1
    return {"before": before, "fixed": after}


def reset(project: Path, before: Dict[str, bytes]) -> None:
    for name, data in before.items():
        (project / name).write_bytes(data)


def error_lines(stderr: str) -> List[str]:
    return [line for line in stderr.splitlines() if ": error: " in line]


# --------------------------------------------------------------------------
# A worker that dies
# --------------------------------------------------------------------------


@pytest.mark.parametrize("how,message", [
    ("SIGSEGV", "the process analysing it crashed (SIGSEGV)"),
    ("SIGKILL", "the process analysing it was killed (SIGKILL; out of memory?)"),
    ("exit", "the process analysing it exited with status 70"),
])
def test_a_worker_that_dies_costs_only_the_file_it_was_on(tmp_path: Path, how: str,
                                                           message: str) -> None:
    project = fixable_project(tmp_path / "p")
    clean = flushguard("check", "--no-cache", "-j", "2", cwd=project)
    fault = {FAULT_VARIABLE: f"service_07.py:{how}"}
    done = flushguard("check", "--no-cache", "-j", "2", cwd=project, env=fault)
    assert done.returncode == 2, done.stderr
    assert error_lines(done.stderr) == [f"app/service_07.py: error: {message}"]
    assert "Traceback" not in done.stderr
    assert done.stdout == "".join(line for line in clean.stdout.splitlines(keepends=True)
                                  if not line.startswith("app/service_07.py:"))


def test_fix_with_a_worker_that_dies_fixes_every_other_file(tmp_path: Path, expected) -> None:
    project = fixable_project(tmp_path / "p")
    fault = {FAULT_VARIABLE: "service_07.py:SIGSEGV"}
    message = "the process analysing it crashed (SIGSEGV)"
    done = flushguard("fix", "--no-cache", "-j", "2", cwd=project, env=fault)
    assert done.returncode == 2, done.stderr
    assert error_lines(done.stderr) == [f"app/service_07.py: error: {message}"]
    now = files_of(project)
    for name, data in expected["fixed"].items():
        wanted = expected["before"][name] if name == "app/service_07.py" else data
        assert now[name] == wanted, name


def fake_analyze(path: Path, root: Path, index: ModelIndex, settings: Settings, display: str,
                 facts: CallFacts, require_sites: bool) -> engine.FileOutcome:
    """The per-file step for the pool tests: ``crash*`` kill their worker every time, ``once*``
    the first time only (the out-of-memory killer chose that worker), ``bug*`` raise."""
    if path.name.startswith("crash"):
        os.kill(os.getpid(), signal.SIGSEGV)
    if path.name.startswith("once"):
        marker = path.with_suffix(".died")
        if not marker.exists():
            marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
    if path.name.startswith("bug"):
        raise ValueError(f"a bug on {path.name}")
    return engine.FileOutcome(path=path, display=display)


@pytest.fixture
def quiet_crashes():
    """Workers forked from this process would inherit pytest's faulthandler, and print a
    dump for each crash they are meant to have; flushguard itself never enables it."""
    import faulthandler

    enabled = faulthandler.is_enabled()
    faulthandler.disable()
    yield
    if enabled:
        faulthandler.enable(file=sys.__stderr__)


def test_the_pool_isolates_the_files_that_crash_it_and_keeps_the_order(tmp_path: Path,
                                                                       quiet_crashes) -> None:
    names = [f"file_{i:02d}.py" for i in range(60)]
    names[5], names[41], names[20] = "crash_a.py", "crash_b.py", "once_c.py"
    paths = [tmp_path / name for name in names]
    pool = Pool(2, fake_analyze, tmp_path, ModelIndex(), Settings())
    try:
        outcomes = list(pool.map(paths, names, CallFacts(), True))
        again = list(pool.map(paths, names, CallFacts(), True))  # a later round
    finally:
        pool.close()
    assert [o.display for o in outcomes] == names
    errors = {o.display: o.error for o in outcomes if o.error is not None}
    crash = "the process analysing it crashed (SIGSEGV)"
    assert errors == {"crash_a.py": crash, "crash_b.py": crash}
    assert (tmp_path / "once_c.died").exists()  # it died once, and was analysed on retry
    assert pool.restarts >= 2
    # A file that crashed is not tried again in a later round.
    restarts = pool.restarts
    assert [(o.display, o.error) for o in again] == [(o.display, o.error) for o in outcomes]
    assert pool.restarts == restarts


def test_a_bug_in_a_worker_is_a_traceback_not_a_skipped_file(tmp_path: Path) -> None:
    names = [f"file_{i:02d}.py" for i in range(20)] + ["bug.py"]
    pool = Pool(2, fake_analyze, tmp_path, ModelIndex(), Settings())
    try:
        with pytest.raises(ValueError, match="a bug on bug.py"):
            list(pool.map([tmp_path / n for n in names], names, CallFacts(), True))
    finally:
        pool.close()


@pytest.mark.skipif(multiprocessing.get_start_method() != "fork",
                    reason="the workers must inherit the lifted guard (fork start method)")
def test_a_real_parser_crash_costs_only_its_file(tmp_path: Path, monkeypatch,
                                                 quiet_crashes) -> None:
    """No seam: LibCST's native parser overflows its stack on 50,000 nested brackets (which
    the bracket-depth guard refuses first, lifted here) and the worker dies of SIGSEGV. The
    front end reads with LibCST what the running Python cannot parse: here, as on an older
    Python, nothing."""
    project = fixable_project(tmp_path / "p")
    deep = "async def g(s):\n    await s.flush()\ny = " + "[" * 50_000 + "]" * 50_000 + "\n"
    (project / "app" / "deep.py").write_text(deep, encoding="utf-8")
    monkeypatch.setattr(files, "too_deeply_nested", lambda text: None)

    def older_python(source, *args, **kwargs):
        raise SyntaxError("invalid syntax", ("<unknown>", 1, 1, ""))

    monkeypatch.setattr(ast, "parse", older_python)
    result = engine.run(load_options([project], {"jobs": 2}, cwd=project, cache=False))
    assert [(o.display, o.error) for o in result.errors] == [
        ("app/deep.py", "the process analysing it crashed (SIGSEGV)")]
    assert len({f.path for f in result.findings}) == SERVICES + 1


# --------------------------------------------------------------------------
# kill -9
# --------------------------------------------------------------------------

#: Writes ``argv[2]`` bytes of one letter then another into ``argv[1]``, forever.
_WRITER = textwrap.dedent(
    """\
    import sys
    from pathlib import Path
    from codemods import files
    path, size = Path(sys.argv[1]), int(sys.argv[2])
    letters = [b"a", b"b"]
    sys.stdout.write("ready\\n"); sys.stdout.flush()
    while True:
        files.write_atomic(path, letters[0] * size)
        letters.reverse()
    """
)


def test_kill_9_while_writing_leaves_the_old_file_or_the_new(tmp_path: Path) -> None:
    path = tmp_path / "service.py"
    size = 4 << 20
    path.write_bytes(b"a" * size)
    rng = random.Random(7)
    leftovers = set()
    for _ in range(25):
        writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(size)],
                                  stdout=subprocess.PIPE)
        assert writer.stdout.readline() == b"ready\n"
        time.sleep(rng.uniform(0, 0.05))
        writer.kill()
        writer.wait()
        assert path.read_bytes() in (b"a" * size, b"b" * size)
        leftovers |= {p.name for p in tmp_path.iterdir() if p != path}
    # What a kill between writing and renaming leaves: our own temporary files, removed by
    # the next write once they are old enough not to be another run's.
    assert all(name.startswith(".service.py.") and name.endswith(".flushguard")
               for name in leftovers), leftovers
    for stale in tmp_path.glob(".service.py.*.flushguard"):
        old = time.time() - files.STALE_TEMPORARY_SECONDS - 1
        os.utime(stale, (old, old))
    files.write_atomic(path, b"done")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["service.py"]


#: Saves a cache of ``argv[2]`` entries again and again, each time a different one.
_SAVER = textwrap.dedent(
    """\
    import sys
    from pathlib import Path
    from codemods.cache import Cache
    file, entries = Path(sys.argv[1]), int(sys.argv[2])
    sys.stdout.write("ready\\n"); sys.stdout.flush()
    round_ = 0
    while True:
        round_ += 1
        store = Cache(file)
        store.new = {f"{round_}-{i}": ("x" * 100, i) for i in range(entries)}
        store.save()
    """
)


def test_kill_9_while_saving_the_cache_leaves_a_whole_cache(tmp_path: Path) -> None:
    file = tmp_path / "cache" / "entries.pickle"
    rng = random.Random(11)
    for _ in range(12):
        # Two savers at once (an editor and a pre-commit hook), killed at a random moment.
        savers = [subprocess.Popen([sys.executable, "-c", _SAVER, str(file), "10000"],
                                   stdout=subprocess.PIPE) for _ in range(2)]
        for saver in savers:
            assert saver.stdout.readline() == b"ready\n"
        time.sleep(rng.uniform(0.02, 0.3))
        for saver in savers:
            saver.kill()
            saver.wait()
        if file.exists():
            with open(file, "rb") as handle:
                loaded = pickle.load(handle)
            assert len(loaded) == 10000
            assert len({key.split("-")[0] for key in loaded}) == 1  # one save, whole
        assert cache_mod.Cache(file).old or not file.exists()
    stale = time.time() - cache_mod.STALE_TEMPORARY_SECONDS - 1
    for leftover in file.parent.glob(f"{cache_mod.TEMPORARY_PREFIX}*"):
        os.utime(leftover, (stale, stale))
    store = cache_mod.Cache(file)
    store.new = {"k": 1}
    store.save()
    assert sorted(p.name for p in file.parent.iterdir()) == [".gitignore", "CACHEDIR.TAG",
                                                               "entries.pickle"]


def test_kill_9_of_fix_at_any_moment_leaves_every_file_whole(tmp_path: Path, expected) -> None:
    project = fixable_project(tmp_path / "p")
    started = time.monotonic()
    assert flushguard("fix", "-j", "2", cwd=project).returncode == 0  # how long a run takes
    span = time.monotonic() - started
    rng = random.Random(3)
    for attempt in range(6):
        reset(project, expected["before"])
        # The cache is kept from one attempt to the next: each run loads what the one it
        # follows (killed at another moment) left.
        run = start(["fix", "-j", "2"], project, tmp_path / f"logs{attempt}")
        time.sleep(rng.uniform(0, span))
        run.process.kill()
        run.finish()  # and every worker gone
        check_whole(project, expected["before"], expected["fixed"], allow_temporary=True)
        check_cache_loads(project)
    # Then a run finishes the job.
    done = flushguard("fix", "-j", "2", cwd=project)
    assert done.returncode == 0, done.stderr
    now = files_of(project)
    assert {n: d for n, d in now.items() if not TEMPORARY.match(n.rsplit("/", 1)[-1])} \
        == expected["fixed"]


# --------------------------------------------------------------------------
# Ctrl-C
# --------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["fix", "check"])
def test_ctrl_c_exits_130_with_one_line_and_nothing_half_done(tmp_path: Path, expected,
                                                              command: str) -> None:
    project = fixable_project(tmp_path / "p")
    spans = {}
    for cache in (("--no-cache",), ()):  # how long a run takes without the cache, and with it
        reset(project, expected["before"])
        started = time.monotonic()
        assert flushguard(command, *cache, "-j", "2", cwd=project).returncode in (0, 1)
        spans[cache] = time.monotonic() - started
    rng = random.Random(5)
    interrupted = 0
    attempts = 6 if command == "fix" else 4
    for attempt in range(attempts):
        reset(project, expected["before"])
        # Half the runs with the cache of the last one: quicker, so more interrupts land
        # while files are written.
        cache = ("--no-cache",) if attempt % 2 else ()
        run = start([command, *cache, "-j", "2"], project, tmp_path / f"logs{attempt}")
        # Within the first two thirds of such a run's time: most signals land before its end.
        time.sleep(rng.uniform(0.001, spans[cache] * 2 / 3))
        os.killpg(run.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        done = run.finish()
        check_whole(project, expected["before"], expected["fixed"], allow_temporary=False)
        check_cache_loads(project)
        assert "Traceback" not in done.stderr
        if done.returncode == 130:
            interrupted += 1
            (line,) = done.stderr.splitlines()
            assert line == "flushguard: interrupted" or (
                command == "fix" and line.startswith("flushguard: interrupted: ")
                and line.endswith(" fixed, the others left as they were")), line
        else:  # the run was over before the signal came
            assert done.returncode == (0 if command == "fix" else 1), done.stderr
    assert interrupted * 2 >= attempts


def test_an_interrupt_during_a_deferred_step_comes_when_it_ends() -> None:
    from codemods import interrupts

    done = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts.deferred():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)  # the handler runs here, and only records it
            done.append("step")
    assert done == ["step"]
    with pytest.raises(KeyboardInterrupt):  # the interrupt wins over the step's own error
        with interrupts.deferred():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)
            raise OSError("disk full")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# --------------------------------------------------------------------------
# Two runs at once
# --------------------------------------------------------------------------


def test_two_fix_runs_at_once_never_undo_each_others_writes(tmp_path: Path, expected) -> None:
    """One run fixes FG001, the other FG003, in the same files at the same time. A file may
    end with either fix or both, never with a write lost over another's; a run that finds a
    file changed under it says so and leaves it."""
    project = fixable_project(tmp_path / "p")
    before = expected["before"]
    one = {}
    for code in ("FG001", "FG003"):
        copy = tmp_path / code
        shutil.copytree(project, copy)
        assert flushguard("fix", "--no-cache", "--select", code, cwd=copy).returncode == 0
        one[code] = files_of(copy)
    for attempt in range(3):
        reset(project, before)
        runs = [start(["fix", "--select", code, "-j", "2"], project,
                      tmp_path / f"logs{attempt}-{code}") for code in ("FG001", "FG003")]
        results = [run.finish() for run in runs]
        for done in results:
            assert done.returncode in (0, 2), done.stderr
            assert all(line.endswith(": error: changed since it was analysed; not written")
                       for line in error_lines(done.stderr)), done.stderr
        now = files_of(project)
        for name in before:
            assert now[name] in (one["FG001"][name], one["FG003"][name],
                                 expected["fixed"][name]), name
        check_cache_loads(project)
        # What is left is fixed by one more run, as if nothing had happened.
        assert flushguard("fix", cwd=project).returncode == 0
        assert files_of(project) == expected["fixed"]


def test_the_same_fix_twice_at_once_is_no_error(tmp_path: Path, expected) -> None:
    project = fixable_project(tmp_path / "p")
    for attempt in range(2):
        reset(project, expected["before"])
        runs = [start(["fix", "-j", "2"], project, tmp_path / f"logs{attempt}-{n}")
                for n in range(2)]
        for done in [run.finish() for run in runs]:
            assert done.returncode == 0, done.stderr
        assert files_of(project) == expected["fixed"]
        check_cache_loads(project)


def test_runs_at_once_keep_a_cache_that_gives_the_same_answer(tmp_path: Path) -> None:
    project = fixable_project(tmp_path / "p")
    fresh = flushguard("check", "--no-cache", "-j", "2", cwd=project)
    for attempt in range(2):
        runs = [start(["check", "-j", "2"], project, tmp_path / f"logs{attempt}-{n}")
                for n in range(3)]
        for done in [run.finish() for run in runs]:
            assert (done.returncode, done.stdout) == (fresh.returncode, fresh.stdout)
        assert check_cache_loads(project) == 2
    warm = flushguard("check", "-j", "2", cwd=project)
    assert (warm.returncode, warm.stdout) == (fresh.returncode, fresh.stdout)

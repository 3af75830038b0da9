"""Analyses files in worker processes, and goes on when one of them dies.

The model index and the settings go once to each worker; a round's facts are pickled once
and unpickled once per worker. Results come back in the order asked, whatever order the
workers finish in. A run with one job or little to do stays in this process.

Each file always goes to the same worker (its *lane*, by a digest of its path): a worker
keeps what it learnt from a file (its IR, the results of its functions) for the rounds
that analyse it again, which a shared queue would hand to another worker.

A worker that dies (a segmentation fault in a native parser on a pathological file, the
kernel's out-of-memory killer) breaks a ``ProcessPoolExecutor`` for every task it holds
(``BrokenProcessPool``). The pool then starts new workers and goes on: results that came
back are kept, the batches that were in flight are retried one file at a time, and each
file that was in flight when a single file broke the pool again is analysed alone, in a
process of its own. A file that kills that process too is the culprit: its outcome is an
error (``the process analysing it crashed (SIGSEGV)``) and the run goes on with the rest.
No more than two batches per worker are in flight at once, so a death leaves few suspects.

Workers ignore SIGINT (a terminal's Ctrl-C reaches the whole process group: the main
process decides what it means), and exit by themselves once the main process is gone, so
a ``kill -9`` leaves no worker behind. Workers never write a file.

Test seam: ``FLUSHGUARD_TEST_WORKER_FAULT=NAME:HOW`` makes a worker (never the main process)
die on the file named NAME, as HOW says: ``SIGSEGV``, ``SIGKILL`` (what the out-of-memory
killer sends) or ``exit`` (``os._exit(70)``). It is read once when a worker starts.
"""

from __future__ import annotations

import os
import pickle
import signal
import threading
import zlib
from collections import deque
from pathlib import Path
from typing import (TYPE_CHECKING, Callable, Deque, Dict, Iterable, Iterator, List, Optional,
                    Sequence, Set, Tuple)

from codemods.types import CallFacts, ModelIndex, Settings

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

    from codemods.engine import FileOutcome

#: ``analyze(path, root, index, settings, display, facts, require_sites)``: one file's
#: outcome, never an exception for bad input (a module-level function: workers import it).
Analyze = Callable[..., "FileOutcome"]
#: What a worker is given for one file: path, display, round, the round's facts (pickled),
#: and whether a file without a site marker is skipped.
Task = Tuple[Path, str, int, bytes, bool]

FAULT_VARIABLE = "FLUSHGUARD_TEST_WORKER_FAULT"
#: How often a worker checks that the main process is still there (seconds).
PARENT_CHECK_SECONDS = 1.0


class Pool:
    """Runs ``analyze`` over files in ``jobs`` worker processes, or in this process when
    there is one job or little to do; see the module's documentation for what a dead
    worker costs."""

    SERIAL_BELOW = 16
    #: Batches in flight per worker: enough to keep every worker busy.
    IN_FLIGHT_PER_JOB = 2

    def __init__(self, jobs: int, analyze: Analyze, root: Path, index: ModelIndex,
                 settings: Settings) -> None:
        self.jobs, self.analyze = jobs, analyze
        self.root, self.index, self.settings = root, index, settings
        self.executors: Dict[int, ProcessPoolExecutor] = {}
        #: Each batch in flight, with its lane.
        self.in_flight: Dict[Future, Tuple[int, List[int]]] = {}
        self.rounds = 0
        #: Files whose analysis killed a process of its own: not tried again in later rounds.
        self.crashed: Dict[Path, str] = {}
        #: How many times a dead worker broke the pool (for tests and curious callers).
        self.restarts = 0

    def map(self, paths: Sequence[Path], displays: Sequence[str], facts: CallFacts,
            require_sites: bool) -> Iterator[FileOutcome]:
        """One outcome per path, in the order of ``paths``."""
        if self.jobs <= 1 or len(paths) < self.SERIAL_BELOW:
            for path, display in zip(paths, displays):
                yield self.analyze(path, self.root, self.index, self.settings, display, facts,
                                   require_sites)
            return
        # The round's facts are pickled once here and unpickled once per worker.
        self.rounds += 1
        blob = pickle.dumps(facts, protocol=pickle.HIGHEST_PROTOCOL)
        tasks: List[Task] = [(path, display, self.rounds, blob, require_sites)
                             for path, display in zip(paths, displays)]
        size = max(1, min(32, len(tasks) // (self.jobs * 4)))
        lanes: Dict[int, List[int]] = {}
        for i, task in enumerate(tasks):
            if task[0] not in self.crashed:
                lanes.setdefault(self.lane(task[0]), []).append(i)
        batches = [(lane, known[i:i + size]) for lane, known in sorted(lanes.items())
                   for i in range(0, len(known), size)]
        ready: Dict[int, FileOutcome] = {
            i: self._crash_outcome(task) for i, task in enumerate(tasks) if task[0] in self.crashed}
        following = 0
        for index, outcome in self._outcomes(tasks, batches):
            ready[index] = outcome
            while following in ready:
                yield ready.pop(following)
                following += 1

    def lane(self, path: Path) -> int:
        """The worker that analyses ``path``, in every round."""
        return zlib.crc32(os.fsencode(path)) % self.jobs

    def _outcomes(self, tasks: Sequence[Task],
                  batches: Iterable[Tuple[int, List[int]]]) -> Iterator[Tuple[int, FileOutcome]]:
        """(task index, outcome) for every task, in the order they finish."""
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        queue: Deque[Tuple[int, List[int]]] = deque(batches)
        alone: List[int] = []  # tasks in flight, one file each, when a worker died
        while queue or self.in_flight:
            broken: Set[int] = set()
            waiting: Deque[Tuple[int, List[int]]] = deque()
            while queue:
                lane, batch = queue.popleft()
                busy = sum(1 for held, _ in self.in_flight.values() if held == lane)
                if lane in broken or busy >= self.IN_FLIGHT_PER_JOB:
                    waiting.append((lane, batch))
                    continue
                try:
                    future = self._executor(lane).submit(_worker_batch, [tasks[i] for i in batch])
                except BrokenProcessPool:  # its worker died since the last wait
                    waiting.append((lane, batch))
                    broken.add(lane)
                    continue
                self.in_flight[future] = (lane, batch)
            queue = waiting
            if not broken:
                done, _ = wait(list(self.in_flight), return_when=FIRST_COMPLETED)
                broken = {self.in_flight[f][0] for f in done
                          if isinstance(f.exception(), BrokenProcessPool)}
            if broken:
                # Every task the dead worker held fails with it: wait for them all.
                wait([f for f, (lane, _) in self.in_flight.items() if lane in broken])
            failed: List[Tuple[int, List[int]]] = []
            for future in [f for f in self.in_flight if f.done()]:
                lane, batch = self.in_flight.pop(future)
                error = future.exception()
                if isinstance(error, BrokenProcessPool):
                    failed.append((lane, batch))
                elif error is not None:
                    raise error  # a bug of ours: a traceback, never swallowed
                else:
                    yield from zip(batch, future.result())
            for lane in broken:
                self._discard_executor(lane)
                self.restarts += 1
            # A batch of several files is retried one file at a time; a single file that was
            # in flight when its worker died again is analysed alone.
            singles = [(lane, [i]) for lane, batch in failed if len(batch) > 1 for i in batch]
            alone.extend(batch[0] for _, batch in failed if len(batch) == 1)
            queue.extendleft(reversed(singles))
            for index in alone:
                yield index, self._alone(tasks[index])
            alone.clear()

    def _executor(self, lane: int) -> ProcessPoolExecutor:
        executor = self.executors.get(lane)
        if executor is None:
            from concurrent.futures import ProcessPoolExecutor

            executor = self.executors[lane] = ProcessPoolExecutor(
                max_workers=1, initializer=_worker_init,
                initargs=(self.analyze, self.root, self.index, self.settings))
        return executor

    def _alone(self, task: Task) -> FileOutcome:
        """``task`` in a process of its own: its outcome, or an error when that process dies."""
        import multiprocessing

        context = multiprocessing.get_context()
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(
            target=_alone_main, name="flushguard-alone",
            args=(sender, self.analyze, self.root, self.index, self.settings, task))
        process.start()
        sender.close()
        try:
            status, value = receiver.recv()
        except EOFError:  # it died before it could answer
            status, value = "died", None
        except BaseException:  # Ctrl-C: the run is abandoned, this file with it
            process.terminate()
            raise
        finally:
            receiver.close()
            process.join()
        if status == "raised":
            raise value  # a bug of ours: a traceback, never swallowed
        if status == "done":
            return value
        self.crashed[task[0]] = crash_message(process.exitcode)
        return self._crash_outcome(task)

    def _crash_outcome(self, task: Task) -> FileOutcome:
        from codemods.engine import FileOutcome

        return FileOutcome(path=task[0], display=task[1], error=self.crashed[task[0]])

    def close(self) -> None:
        """Stop the workers. With work still in flight the run is being abandoned (Ctrl-C,
        an error): the workers are stopped at once, not waited for."""
        abandoned = bool(self.in_flight)
        for lane in list(self.executors):
            if abandoned:
                self._discard_executor(lane)
            else:
                self.executors.pop(lane).shutdown()
        self.in_flight.clear()

    def _discard_executor(self, lane: int) -> None:
        executor = self.executors.pop(lane, None)
        for future in [f for f, (held, _) in self.in_flight.items() if held == lane]:
            del self.in_flight[future]
        if executor is None:
            return
        terminate = getattr(executor, "terminate_workers", None)  # Python 3.14
        if terminate is not None:
            terminate()
        else:
            for process in list((getattr(executor, "_processes", None) or {}).values()):
                if process.is_alive():
                    process.terminate()
        executor.shutdown(wait=False, cancel_futures=True)


def crash_message(exitcode: Optional[int]) -> str:
    """What the user is told about a file whose analysis killed the process doing it."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        if name == "SIGKILL":
            return "the process analysing it was killed (SIGKILL; out of memory?)"
        return f"the process analysing it crashed ({name})"
    return f"the process analysing it exited with status {exitcode}"


_WORKER: Dict[str, object] = {}


def _worker_init(analyze: Analyze, root: Path, index: ModelIndex, settings: Settings) -> None:
    from codemods.engine import tune_gc

    tune_gc()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER.update(analyze=analyze, root=root, index=index, settings=settings,
                   fault=_fault(os.environ.get(FAULT_VARIABLE)))
    parent = os.getppid()
    threading.Thread(target=_exit_with_parent, args=(parent,), name="flushguard-parent",
                     daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    """End this worker once the process that started it is gone (killed with ``kill -9``:
    nobody is left to tell it)."""
    import time

    while True:
        time.sleep(PARENT_CHECK_SECONDS)
        if os.getppid() != parent:
            os._exit(1)


def _worker_batch(tasks: Sequence[Task]) -> List[FileOutcome]:
    return [_worker_task(task) for task in tasks]


def _worker_task(task: Task) -> FileOutcome:
    path, display, round_, blob, require_sites = task
    fault = _WORKER.get("fault")
    if fault is not None and path.name == fault[0]:
        _die(fault[1])
    if _WORKER.get("round") != round_:
        _WORKER.update(round=round_, facts=pickle.loads(blob))
    analyze: Analyze = _WORKER["analyze"]  # type: ignore[assignment]
    return analyze(path, _WORKER["root"], _WORKER["index"], _WORKER["settings"], display,
                   _WORKER["facts"], require_sites)


def _alone_main(sender, analyze: Analyze, root: Path, index: ModelIndex, settings: Settings,
                task: Task) -> None:
    _worker_init(analyze, root, index, settings)
    try:
        answer: Tuple[str, object] = ("done", _worker_task(task))
    except Exception as exc:  # sent back and raised there: a bug's traceback
        answer = ("raised", exc)
    try:
        sender.send(answer)
    except Exception as exc:  # the exception does not pickle
        sender.send(("raised", RuntimeError(f"{type(exc).__name__}: {exc}")))
    sender.close()


def _fault(value: Optional[str]) -> Optional[Tuple[str, str]]:
    """The test seam's ``NAME:HOW``, or None (the normal case)."""
    if not value:
        return None
    name, _, how = value.rpartition(":")
    return (name, how) if name and how in ("SIGSEGV", "SIGKILL", "exit") else None


def _die(how: str) -> None:
    if how == "exit":
        os._exit(70)
    os.kill(os.getpid(), getattr(signal, how))

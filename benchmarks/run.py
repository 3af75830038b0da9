#!/usr/bin/env python3
"""How flushguard's cost grows with the size of a project.

Generates a synthetic FastAPI + SQLAlchemy async project (benchmarks/synthetic.py) at each
size (1x, 2x, 4x, 8x a base of --base-files files), runs `flushguard check` on it as a
subprocess and prints a Markdown table: CPU seconds, wall seconds, peak memory, files per
second and the findings (which must equal the bugs the generator planted, path, line and
rule). --profile service generates a service-heavy backend instead (benchmarks/
service_heavy.py), where most service modules flush or commit. When ast-grep
and ruff are installed, the same tree goes through `ast-grep run -p 'await $S.flush()'`
and `ruff check --select ASYNC`, and the table gives flushguard's CPU time as a multiple
of theirs. When flushguard has --no-cache, the cold run uses it, and a run that fills the
cache, a warm run and a run after one file changed follow.

Standard library only; Linux (the process tree's memory is read from /proc).

    python benchmarks/run.py                          # 1,2,4,8 x 1,000 files
    python benchmarks/run.py --profile service --sizes 1,2,4
    python benchmarks/run.py --sizes 1,2 --json out.json
    python benchmarks/run.py --baseline before.json   # adds a speed-up column
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import synthetic

MIB = 1024 * 1024
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
AST_GREP_PATTERN = "await $S.flush()"


# --------------------------------------------------------------------------
# Measuring one command
# --------------------------------------------------------------------------


@dataclass
class Measurement:
    """One run of one command, as the operating system saw it."""

    tool: str
    mode: str
    command: List[str]
    exit_code: int
    #: User + system time of the process and every descendant it reaped (a process pool's
    #: workers included), from getrusage(RUSAGE_CHILDREN) before and after.
    cpu_s: float
    user_s: float
    system_s: float
    wall_s: float
    #: The largest sum of the resident set sizes of the whole process tree, sampled.
    peak_tree_mib: float
    #: ru_maxrss from wait4: the largest resident set of any single process of the tree.
    #: Linux keeps the high-water mark across exec, so it is never below ``launcher_mib``.
    ru_maxrss_mib: float
    samples: int
    #: This script's own resident set when it started the command: the floor of
    #: ``ru_maxrss_mib`` (the child is a copy of this process until it execs).
    launcher_mib: float = 0.0
    #: The largest VmHWM (a process's own high-water mark, reset by exec) seen in the tree.
    hwm_mib: float = 0.0
    stdout: str = field(default="", repr=False)
    stderr: str = field(default="", repr=False)
    #: What the tool reported: flushguard's findings, ast-grep's matches, ruff's diagnostics.
    count: Optional[int] = None
    files_scanned: Optional[int] = None
    #: flushguard's findings against the planted ones, by path, line and rule: planted but
    #: not reported, reported but not planted, and how many of the latter are latent bugs
    #: (real bugs in shapes the analysis did not follow when the generator was written).
    missing: Optional[int] = None
    unexpected: Optional[int] = None
    unexpected_latent: Optional[int] = None
    #: (path, line, code) of every finding, read from the JSON report; dropped once compared.
    found: Optional[List[Tuple[str, int, str]]] = field(default=None, repr=False)
    #: The 1-minute load average when the run started and when it ended: above the number of
    #: CPUs, other processes competed for them and the wall time is inflated.
    load_before: Optional[float] = None
    load_after: Optional[float] = None

    @property
    def ru_maxrss_known(self) -> bool:
        """Whether ru_maxrss is the command's own rather than the floor it inherited."""
        return self.ru_maxrss_mib > 1.1 * self.launcher_mib + 1

    @property
    def max_process_mib(self) -> float:
        """The largest single process: its sampled VmHWM, or ru_maxrss when that is above
        the inherited floor (it also sees what peaked in the last sampling interval)."""
        return max(self.hwm_mib, self.ru_maxrss_mib if self.ru_maxrss_known else 0.0)

    @property
    def peak_mib(self) -> float:
        return max(self.peak_tree_mib, self.max_process_mib)


def _children_via_task(pid: int) -> List[int]:
    found: List[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children", "rb") as f:
            found.extend(int(x) for x in f.read().split())
    return found


def _parents() -> Dict[int, List[int]]:
    """Every process's children, from each /proc/PID/stat (when .../children is missing)."""
    tree: Dict[int, List[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses.
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        tree.setdefault(ppid, []).append(int(name))
    return tree


_HAS_TASK_CHILDREN = os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children")


def process_tree(root: int) -> List[int]:
    """``root`` and all of its descendants."""
    pids = [root]
    tree = None if _HAS_TASK_CHILDREN else _parents()
    i = 0
    while i < len(pids):
        pid = pids[i]
        i += 1
        try:
            pids.extend(_children_via_task(pid) if tree is None else tree.get(pid, []))
        except (OSError, ValueError):
            continue  # gone meanwhile
    return pids


def own_rss() -> int:
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[1]) * PAGE


def tree_memory(root: int) -> Tuple[int, int]:
    """Bytes resident in ``root``'s process tree (pages shared between processes count once
    per process), and the largest VmHWM among its processes."""
    total = hwm = 0
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/status", "rb") as f:
                status = f.read()
        except OSError:
            continue
        fields = dict(line.split(b":", 1) for line in status.splitlines() if b":" in line)
        try:
            total += int(fields[b"VmRSS"].split()[0]) * 1024
            hwm = max(hwm, int(fields[b"VmHWM"].split()[0]) * 1024)
        except (KeyError, ValueError, IndexError):
            continue  # a zombie has no memory left to show
    return total, hwm


def tree_rss(root: int) -> int:
    """Bytes resident in ``root``'s process tree (see :func:`tree_memory`)."""
    return tree_memory(root)[0]


def measure(command: Sequence[str], cwd: Path, tool: str, mode: str,
            interval: float = 0.02) -> Measurement:
    """Run ``command`` to completion; its CPU time, wall time and memory."""
    load_before = os.getloadavg()[0]
    launcher = own_rss()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(list(command), cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=err)
        peak = hwm = 0
        samples = 0
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak, hwm, samples
            while True:
                rss, high = tree_memory(proc.pid)
                peak, hwm = max(peak, rss), max(hwm, high)
                samples += 1
                if stop.wait(interval):
                    return

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        # wait4 reaps the child itself (Popen.wait would too, but without its rusage).
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        stop.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    user = after.ru_utime - before.ru_utime
    system = after.ru_stime - before.ru_stime
    return Measurement(
        tool=tool, mode=mode, command=list(command), exit_code=proc.returncode,
        cpu_s=user + system, user_s=user, system_s=system, wall_s=wall,
        peak_tree_mib=peak / MIB, ru_maxrss_mib=usage.ru_maxrss * 1024 / MIB,
        samples=samples, launcher_mib=launcher / MIB, hwm_mib=hwm / MIB, stdout=stdout,
        stderr=stderr, load_before=load_before, load_after=os.getloadavg()[0])


# --------------------------------------------------------------------------
# The tools
# --------------------------------------------------------------------------


def find_tool(name: str, given: Optional[str]) -> Optional[List[str]]:
    """The command for ``name``: as given, else beside this Python, else on PATH."""
    if given:
        return shlex.split(given)
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    found = shutil.which(name)
    return [found] if found else None


def tool_version(command: Sequence[str]) -> str:
    try:
        done = subprocess.run([*command, "--version"], check=False, capture_output=True,
                              text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if lines else "unknown"


def supports_no_cache(help_text: str) -> bool:
    """Whether ``flushguard check --help`` offers ``--no-cache``."""
    return re.search(r"(?<![\w-])--no-cache(?![\w-])", help_text) is not None


def flushguard_help(command: Sequence[str]) -> str:
    # From a neutral folder, as the measured runs (from the project): `python -m` would
    # import a codemods/ package from the current folder first.
    done = subprocess.run([*command, "check", "--help"], check=False, capture_output=True,
                          text=True, timeout=60, cwd=tempfile.gettempdir())
    if done.returncode != 0:
        raise SystemExit(f"run.py: `{shlex.join([*command, 'check', '--help'])}` failed:\n"
                         f"{done.stderr.strip()}")
    return done.stdout


def read_flushguard(m: Measurement) -> Measurement:
    """Findings (their count and positions) and files scanned from ``check --format json``."""
    try:
        report = json.loads(m.stdout)
        summary = report["summary"]
        m.count = int(summary["findings"])
        m.files_scanned = int(summary["files_scanned"])
        m.found = [(str(f["path"]), int(f["line"]), str(f["code"]))
                   for f in report.get("findings", ())]
    except (ValueError, KeyError, TypeError):
        m.count = sum(1 for line in m.stdout.splitlines() if re.search(r":\d+:\d+: FG\d{3} ", line))
    return m


def read_ast_grep(m: Measurement) -> Measurement:
    """ast-grep prints one ``path:line:source`` line per match when stdout is not a terminal."""
    m.count = sum(1 for line in m.stdout.splitlines() if re.match(r"[^:\n]+:\d+:", line))
    return m


def read_ruff(m: Measurement) -> Measurement:
    match = re.search(r"Found (\d[\d,]*) error", m.stdout)
    m.count = int(match.group(1).replace(",", "")) if match else (
        0 if "All checks passed" in m.stdout else None)
    return m


# --------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]],
                 right: Sequence[bool] = ()) -> str:
    """A Markdown table with padded columns; ``right[i]`` right-aligns column i."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    align = [bool(right[i]) if i < len(right) else False for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        padded = [c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, align)]
        return "| " + " | ".join(padded) + " |"

    rule = "| " + " | ".join(("-" * (w - 1) + ":") if r else "-" * w
                             for w, r in zip(widths, align)) + " |"
    return "\n".join([line(headers), rule, *(line(row) for row in rows)]) + "\n"


def parse_table(text: str) -> List[Dict[str, str]]:
    """The rows of the first Markdown table in ``text``, as {header: cell}."""
    rows: List[List[str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not (line.startswith("|") and line.endswith("|") and len(line) > 1):
            if rows:
                break
            continue
        cells = [c.strip() for c in line[1:-1].split("|")]
        if all(re.fullmatch(r":?-+:?", c) for c in cells):
            continue
        rows.append(cells)
    if not rows:
        return []
    headers = rows[0]
    return [dict(zip(headers, cells)) for cells in rows[1:]]


def parse_number(cell: str) -> Optional[float]:
    """``1,234`` -> 1234.0, ``12.5 s`` -> 12.5, ``318×`` -> 318.0, ``-`` -> None."""
    match = re.search(r"-?\d[\d,]*(?:\.\d+)?", cell)
    return float(match.group(0).replace(",", "")) if match else None


def fmt_int(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:,.0f}"


def fmt_float(value: Optional[float], digits: int = 2) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.{digits}f}"


def fmt_ratio(value: Optional[float]) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}×" if value >= 10 else f"{value:.1f}×"


# --------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------

MODE_LABELS = {
    "cold": "cold",
    "fill": "cache fill",
    "warm": "warm",
    "changed": "1 changed",
}


@dataclass
class SizeResult:
    size: int
    files: int
    lines: int
    bytes: int
    flush_files: int
    planted: int
    planted_by_code: Dict[str, int]
    generate_s: float
    root: str
    runs: List[Measurement] = field(default_factory=list)
    profile: str = "default"
    flush_sites: Optional[int] = None
    commit_sites: Optional[int] = None
    models: Optional[int] = None
    latent: int = 0
    latent_by_code: Dict[str, int] = field(default_factory=dict)

    def run(self, tool: str, mode: str = "cold") -> Optional[Measurement]:
        return next((m for m in self.runs if m.tool == tool and m.mode == mode), None)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


Position = Tuple[str, int, str]


def generate(root: Path, files: int, seed: int, profile: str = "default") -> Dict:
    """Generate the project in a child process, so that this one stays small: a command's
    ru_maxrss is never below the size of the process that started it.

    The summary, with ``expected`` and ``latent``: the (path, line, code) of every planted
    finding and of every latent bug."""
    done = subprocess.run([sys.executable, str(HERE / "synthetic.py"), str(root),
                           "--files", str(files), "--seed", str(seed), "--profile", profile,
                           "--expected"],
                          check=False, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"run.py: generating {root} failed:\n{done.stderr.strip()}")
    summary, end = json.JSONDecoder().raw_decode(done.stdout)
    summary["expected"], summary["latent"] = read_expected(done.stdout[end:])
    return summary


def read_expected(text: str) -> Tuple[List[Position], List[Position]]:
    """``path:line: CODE`` lines (planted) and ``path:line: CODE latent`` lines."""
    expected: List[Position] = []
    latent: List[Position] = []
    for line in text.splitlines():
        match = re.fullmatch(r"(.+):(\d+): (FG\d{3})( latent)?", line.strip())
        if match:
            (latent if match.group(4) else expected).append(
                (match.group(1), int(match.group(2)), match.group(3)))
    return expected, latent


def compare(m: Measurement, expected: Sequence[Position], latent: Sequence[Position]
            ) -> List[str]:
    """Set ``m.missing``, ``m.unexpected`` and ``m.unexpected_latent`` from ``m.found``; a few
    of the differences, to show."""
    if m.found is None:
        return []
    found, planted = set(m.found), set(expected)
    missing, unexpected = sorted(planted - found), sorted(found - planted)
    m.missing, m.unexpected = len(missing), len(unexpected)
    m.unexpected_latent = len(set(unexpected) & set(latent))
    m.found = None
    return ([f"missing {p}:{n}: {c}" for p, n, c in missing[:5]]
            + [f"unexpected {p}:{n}: {c}" for p, n, c in unexpected[:5]])


def bench_size(size: int, base_files: int, seed: int, out: Path, tools: Dict[str, List[str]],
               cache: bool, interval: float, keep: bool, profile: str = "default") -> SizeResult:
    files = base_files * size
    root = out / (f"project-{size}x" if profile == "default" else f"project-{profile}-{size}x")
    if root.exists():
        shutil.rmtree(root)
    tag = f"[{size}×]"
    log(f"{tag} generating {files:,} files ({profile} profile) in {root}")
    started = time.perf_counter()
    project = generate(root, files, seed, profile)
    result = SizeResult(size=size, files=project["files"], lines=project["lines"],
                        bytes=project["bytes"], flush_files=project["flush_files"],
                        planted=project["expected_findings"],
                        planted_by_code=project["expected_by_code"],
                        generate_s=time.perf_counter() - started, root=str(root),
                        profile=profile, flush_sites=project.get("flush_sites"),
                        commit_sites=project.get("commit_sites"), models=project.get("models"),
                        latent=project.get("latent_findings", 0),
                        latent_by_code=project.get("latent_by_code", {}))
    log(f"{tag} {result.files:,} files, {result.lines:,} lines, {result.flush_files:,} that "
        f"flush or commit ({result.flush_sites:,} flush and {result.commit_sites:,} commit "
        f"sites), {result.models:,} models, {result.planted:,} planted findings"
        + (f", {result.latent:,} latent bugs" if result.latent else "")
        + f" ({result.generate_s:.1f} s)")
    try:
        if "ast-grep" in tools:
            m = read_ast_grep(measure([*tools["ast-grep"], "run", "-p", AST_GREP_PATTERN, "."],
                                      root, "ast-grep", "cold", interval))
            m.stdout = ""  # parsed; this process stays small (see generate)
            result.runs.append(m)
            log(f"{tag} ast-grep: {m.count} matches, {m.cpu_s:.2f} s CPU, {m.wall_s:.2f} s wall")
        if "ruff" in tools:
            m = read_ruff(measure([*tools["ruff"], "check", "--isolated", "--no-cache",
                                   "--select", "ASYNC", "."], root, "ruff", "cold", interval))
            m.stdout = ""
            result.runs.append(m)
            log(f"{tag} ruff: {m.count} diagnostics, {m.cpu_s:.2f} s CPU, {m.wall_s:.2f} s wall")
        check = [*tools["flushguard"], "check", "--format", "json"]
        modes: List[Tuple[str, List[str]]] = [("cold", check + (["--no-cache"] if cache else []))]
        if cache:
            modes += [("fill", check), ("warm", check), ("changed", check)]
        for mode, command in modes:
            if mode == "changed" and project["first_service"]:
                synthetic.touch(root, project["first_service"])
            m = read_flushguard(measure([*command, "."], root, "flushguard", mode, interval))
            m.stdout = ""
            differences = compare(m, project["expected"], project["latent"])
            result.runs.append(m)
            log(f"{tag} flushguard {MODE_LABELS[mode]}: {m.count} findings, {m.cpu_s:.1f} s CPU, "
                f"{m.wall_s:.1f} s wall, {m.peak_mib:.0f} MiB peak (exit {m.exit_code})")
            if m.exit_code not in (0, 1):
                log(f"{tag} flushguard exited {m.exit_code}:\n{m.stderr.strip()[-2000:]}")
            if differences or (m.count is not None and m.count != result.planted):
                log(f"{tag} warning: flushguard found {m.count} findings, the generator planted "
                    f"{result.planted}" + "".join(f"\n  {line}" for line in differences)
                    + (f"\n  {m.unexpected_latent} of the unexpected are latent bugs"
                       if m.unexpected_latent else ""))
            if m.files_scanned is not None and m.files_scanned != result.files:
                log(f"{tag} warning: flushguard scanned {m.files_scanned:,} files of "
                    f"{result.files:,} (is the folder ignored by git?)")
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    return result


HEADERS = ("size", "run", "files", "lines", "findings", "CPU s", "wall s", "peak MB",
           "max proc MB", "files/s", "CPU ms/file", "CPU × ast-grep", "CPU × ruff")
REFERENCE_HEADERS = ("size", "tool", "files", "matches", "CPU s", "wall s", "peak MB",
                     "max proc MB", "files/s")


def main_rows(results: Sequence[SizeResult], baseline: Dict[Tuple[int, str], float]
              ) -> Tuple[List[str], List[List[str]]]:
    have_sg = any(r.run("ast-grep") for r in results)
    have_ruff = any(r.run("ruff") for r in results)
    absent = {"CPU × ast-grep"} if not have_sg else set()
    absent |= {"CPU × ruff"} if not have_ruff else set()
    headers = [h for h in HEADERS if h not in absent]
    if baseline:
        headers.append("CPU speed-up")
    rows = []
    for r in results:
        sg, ruff = r.run("ast-grep"), r.run("ruff")
        for m in (m for m in r.runs if m.tool == "flushguard"):
            findings = fmt_int(m.count) + findings_note(m, r.planted)
            cells = {
                "size": f"{r.size}×", "run": MODE_LABELS[m.mode], "files": fmt_int(r.files),
                "lines": fmt_int(r.lines), "findings": findings, "CPU s": fmt_float(m.cpu_s),
                "wall s": fmt_float(m.wall_s), "peak MB": fmt_int(m.peak_mib),
                "max proc MB": fmt_int(m.max_process_mib),
                "files/s": fmt_float(r.files / m.wall_s if m.wall_s else None, 1),
                "CPU ms/file": fmt_float(1000 * m.cpu_s / r.files if r.files else None),
                "CPU × ast-grep": fmt_ratio(m.cpu_s / sg.cpu_s if sg and sg.cpu_s else None),
                "CPU × ruff": fmt_ratio(m.cpu_s / ruff.cpu_s if ruff and ruff.cpu_s else None),
            }
            base = baseline.get((r.size, MODE_LABELS[m.mode]))
            cells["CPU speed-up"] = fmt_ratio(base / m.cpu_s if base and m.cpu_s else None)
            rows.append([cells[h] for h in headers])
    return headers, rows


def findings_note(m: Measurement, planted: int) -> str:
    """Empty when the findings are exactly the planted ones, else what differs."""
    if not m.missing and not m.unexpected and m.count == planted:
        return ""
    parts = []
    if m.missing:
        parts.append(f"{m.missing:,} missing")
    if m.unexpected:
        parts.append(f"{m.unexpected:,} unexpected"
                     + (f", {m.unexpected_latent:,} latent" if m.unexpected_latent else ""))
    return f" (planted {planted:,}" + (": " + ", ".join(parts) if parts else "") + ")"


def reference_rows(results: Sequence[SizeResult]) -> List[List[str]]:
    rows = []
    for r in results:
        for m in (m for m in r.runs if m.tool != "flushguard"):
            rows.append([f"{r.size}×", m.tool, fmt_int(r.files), fmt_int(m.count),
                         fmt_float(m.cpu_s), fmt_float(m.wall_s), fmt_int(m.peak_mib),
                         fmt_int(m.max_process_mib),
                         fmt_float(r.files / m.wall_s if m.wall_s else None, 1)])
    return rows


def scaling_lines(results: Sequence[SizeResult]) -> List[str]:
    """How the cold run's CPU, wall time, memory and findings grow against the smallest size."""
    cold = [(r, r.run("flushguard", "cold")) for r in results]
    cold = [(r, m) for r, m in cold if m is not None]
    if len(cold) < 2:
        return []
    (r0, m0), lines = cold[0], []
    for r, m in cold[1:]:
        k = r.files / r0.files
        per_file = (m.cpu_s / r.files) / (m0.cpu_s / r0.files) if m0.cpu_s else float("nan")
        lines.append(
            f"- {r.size}× against {r0.size}× ({k:.1f}× the files): CPU ×{m.cpu_s / m0.cpu_s:.2f}, "
            f"wall ×{m.wall_s / m0.wall_s:.2f}, peak memory ×{m.peak_mib / m0.peak_mib:.2f}, "
            f"findings ×{(m.count or 0) / (m0.count or 1):.2f}; CPU per file ×{per_file:.2f} "
            f"(linear: 1.00)")
    return lines


def busy_note(results: Sequence[SizeResult], cpus: int) -> Optional[str]:
    """A warning when other processes competed for the CPUs during the runs."""
    loads = [load for r in results for m in r.runs if m.tool == "flushguard"
             for load in (m.load_before, m.load_after) if load is not None]
    # A run's own processes count in the load: flushguard's pool keeps every CPU busy.
    if not loads or max(loads) <= cpus + 0.5:
        return None
    return (f"note: the load average reached {max(loads):.1f} on {cpus} CPUs: other processes "
            "competed for them, so wall times (and files/s) are inflated; CPU seconds much "
            "less so.")


def load_baseline(path: Path, profile: Optional[str] = None) -> Dict[Tuple[int, str], float]:
    """(size, run label) -> CPU seconds, from a previous --json file or a saved table.

    A --json file of another profile than ``profile`` is refused (a table does not say)."""
    text = path.read_text(encoding="utf-8")
    baseline: Dict[Tuple[int, str], float] = {}
    try:
        data = json.loads(text)
    except ValueError:
        for row in parse_table(text):
            size, cpu = parse_number(row.get("size", "")), parse_number(row.get("CPU s", ""))
            if size is not None and cpu is not None:
                baseline[(int(size), row.get("run", "cold"))] = cpu
        return baseline
    theirs = data.get("profile", "default")
    if profile is not None and theirs != profile:
        raise SystemExit(f"run.py: {path} measured the {theirs} profile, not {profile}")
    for entry in data.get("sizes", []):
        for run in entry.get("runs", []):
            if run.get("tool") == "flushguard":
                label = MODE_LABELS.get(run["mode"], run["mode"])
                baseline[(int(entry["size"]), label)] = run["cpu_s"]
    return baseline


def _run_json(m: Measurement) -> Dict[str, object]:
    data = {k: v for k, v in asdict(m).items() if k not in ("stdout", "stderr", "found")}
    data["peak_mib"] = m.peak_mib
    data["max_process_mib"] = m.max_process_mib
    return data


def environment(tools: Dict[str, List[str]], cache: bool) -> Dict[str, object]:
    commit = None
    try:
        done = subprocess.run(["git", "-C", str(HERE), "describe", "--always", "--dirty"],
                              check=False, capture_output=True, text=True, timeout=30)
        commit = done.stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "usable_cpus": usable,
        "commit": commit,
        "no_cache": cache,
        "tools": {name: {"command": command, "version": tool_version(command)}
                  for name, command in tools.items()},
    }


def parse_sizes(text: str) -> List[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 1,2,4,8, got {text!r}") from None
    if not sizes or any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError("sizes are positive integers")
    return sizes


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/run.py",
        description=__doc__.split("\n\n")[0] + " " + __doc__.split("\n\n")[1].replace("\n", " "),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=synthetic.PROFILES, default="default",
                        help="the generated project: default (a FastAPI application where about "
                             "5%% of the files flush) or service (a service-heavy backend where "
                             "most service modules flush or commit); one profile per run")
    parser.add_argument("--sizes", type=parse_sizes, default=[1, 2, 4, 8],
                        help="multiples of --base-files to run, comma-separated (default 1,2,4,8)")
    parser.add_argument("--base-files", type=int, default=1000,
                        help="Python files of the 1× project (default 1000, about 125k lines)")
    parser.add_argument("--seed", type=int, default=1, help="the generator's seed (default 1)")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for the generated projects (default: a temporary folder); "
                             "avoid a folder git ignores, flushguard would skip its files")
    parser.add_argument("--keep", action="store_true",
                        help="keep the generated projects (project-<size>x, or "
                             "project-service-<size>x, under --out)")
    parser.add_argument("--flushguard", default=None, metavar="PATH",
                        help="the flushguard command (default: beside this Python, else on PATH; "
                             "may carry arguments: 'python -m codemods')")
    parser.add_argument("--ast-grep", dest="ast_grep", default=None, metavar="PATH",
                        help="the ast-grep command (default: found like flushguard; omitted "
                             "if absent)")
    parser.add_argument("--ruff", default=None, metavar="PATH",
                        help="the ruff command (default: found like flushguard; omitted if absent)")
    parser.add_argument("--no-reference", action="store_true",
                        help="do not run ast-grep and ruff")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE",
                        help="also write every measurement to FILE")
    parser.add_argument("--baseline", type=Path, default=None, metavar="FILE",
                        help="an earlier --json file (or its printed table): adds CPU speed-up")
    parser.add_argument("--interval", type=float, default=0.02,
                        help="memory sampling interval in seconds (default 0.02)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if not Path("/proc/self/statm").exists():
        raise SystemExit("run.py: needs Linux /proc to measure memory")
    if args.base_files < 60:
        raise SystemExit("run.py: --base-files must be at least 60 (the shared files and a domain)")
    flushguard = find_tool("flushguard", args.flushguard)
    if flushguard is None:
        raise SystemExit("run.py: flushguard not found: install it (pip install -e .) or pass "
                         "--flushguard")
    tools: Dict[str, List[str]] = {"flushguard": flushguard}
    if not args.no_reference:
        for name, given in (("ast-grep", args.ast_grep), ("ruff", args.ruff)):
            command = find_tool(name, given)
            if command is not None:
                tools[name] = command
            else:
                log(f"{name} not found: its column is left out")
    cache = supports_no_cache(flushguard_help(flushguard))
    log("flushguard has --no-cache: cold, cache fill, warm and one-file-changed runs" if cache
        else "flushguard has no --no-cache: one run per size")
    baseline = load_baseline(args.baseline, args.profile) if args.baseline else {}
    env = environment(tools, cache)
    out = args.out or Path(tempfile.mkdtemp(prefix="flushguard-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    results: List[SizeResult] = []
    try:
        for size in args.sizes:
            results.append(bench_size(size, args.base_files, args.seed, out.resolve(), tools,
                                      cache, args.interval, args.keep, args.profile))
    finally:
        if not args.keep and args.out is None:
            shutil.rmtree(out, ignore_errors=True)
    headers, rows = main_rows(results, baseline)
    right = [h not in ("run",) for h in headers]
    version = env["tools"]["flushguard"]["version"]  # type: ignore[index]
    print(f"{version} ({shlex.join(flushguard)}), benchmarks at {env['commit'] or 'unknown'}, "
          f"Python {env['python']}, {env['usable_cpus']} CPUs, --jobs default, seed {args.seed}, "
          f"--base-files {args.base_files:,}, --profile {args.profile}")
    print()
    print(format_table(headers, rows, right), end="")
    reference = reference_rows(results)
    if reference:
        print()
        print(format_table(REFERENCE_HEADERS, reference, [h != "tool" for h in REFERENCE_HEADERS]),
              end="")
    scaling = scaling_lines(results)
    if scaling:
        print()
        print("\n".join(scaling))
    note = busy_note(results, int(env["usable_cpus"] or 1))  # type: ignore[call-overload]
    if note:
        print()
        print(note)
    if args.json:
        data = {
            "version": 1,
            "profile": args.profile,
            "base_files": args.base_files,
            "seed": args.seed,
            "environment": env,
            "sizes": [{**{k: v for k, v in asdict(r).items() if k != "runs"},
                       "runs": [_run_json(m) for m in r.runs]}
                      for r in results],
        }
        args.json.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""benchmarks/: the synthetic project is valid Python, flushguard finds exactly the bugs the
generator planted in it, and the script's measuring, parsing and tables work.

No test here asserts how fast anything is: speed is measured by `python benchmarks/run.py`,
never by a timed test.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Dict

import libcst
import pytest

from clikit import flushguard

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# run.py imports synthetic.py from its own folder, as the script does.
bench = _load("flushguard_benchmarks_run", BENCHMARKS / "run.py")
synthetic = sys.modules["synthetic"]

#: Small enough for a test, large enough for a few domains and every rule.
TINY = 150


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("bench") / "project"
    return synthetic.generate(root, TINY, seed=1)


def _digest(root: Path) -> Dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_generated_project_is_valid_python(tiny) -> None:
    sources = sorted(tiny.root.rglob("*.py"))
    assert len(sources) == tiny.files == TINY
    for path in sources:
        text = path.read_text(encoding="utf-8")
        libcst.parse_module(text)
        compile(text, str(path), "exec")
    assert tiny.lines == sum(p.read_text().count("\n") for p in sources)


def test_generation_is_deterministic_and_grows_by_domains(tmp_path: Path) -> None:
    one = synthetic.generate(tmp_path / "a", TINY, seed=7)
    two = synthetic.generate(tmp_path / "b", TINY, seed=7)
    assert _digest(one.root) == _digest(two.root)
    assert one.expected == two.expected
    other = synthetic.generate(tmp_path / "c", TINY, seed=8)
    assert _digest(other.root) != _digest(one.root)
    # A larger project keeps the smaller one's services, byte for byte.
    larger = synthetic.generate(tmp_path / "d", 2 * TINY, seed=7)
    for path in (one.root / "app" / "services").glob("*.py"):
        assert (larger.root / path.relative_to(one.root)).read_bytes() == path.read_bytes()


def test_base_unit_has_the_shape_of_a_real_project(tmp_path: Path) -> None:
    """1,000 files: about 100-150k lines, 2-7 % of the files flush or commit, planted bugs of
    every rule; twice the files, about twice the planted findings."""
    base = synthetic.generate(tmp_path / "base", 1000, seed=1)
    assert base.files == 1000
    assert 100_000 <= base.lines <= 150_000
    assert 0.02 <= base.flush_files / base.files <= 0.07
    codes = {e.code for e in base.expected}
    assert codes == {"FG001", "FG002", "FG003", "FG004"}
    services = list((base.root / "app" / "services").glob("*.py"))
    assert max(p.read_text().count("\n") for p in services) >= 300
    double = synthetic.generate(tmp_path / "double", 2000, seed=1)
    assert 1.8 <= len(double.expected) / len(base.expected) <= 2.2


def test_flushguard_finds_exactly_the_planted_bugs(tiny) -> None:
    assert {e.code for e in tiny.expected} == {"FG001", "FG002", "FG003", "FG004"}
    done = flushguard("check", "--format", "json", ".", cwd=tiny.root)
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["errors"] == []
    assert report["summary"]["files_scanned"] == tiny.files
    found = sorted((f["path"], f["line"], f["code"]) for f in report["findings"])
    planted = sorted((e.path, e.line, e.code) for e in tiny.expected)
    assert found == planted
    assert report["summary"]["possible"] == 0


def test_the_one_file_edit_keeps_the_findings(tmp_path: Path) -> None:
    copy = synthetic.generate(tmp_path / "copy", TINY, seed=1)
    synthetic.touch(copy.root, copy.first_service)
    text = (copy.root / copy.first_service).read_text()
    libcst.parse_module(text)
    done = flushguard("check", "--format", "json", ".", cwd=copy.root)
    assert json.loads(done.stdout)["summary"]["findings"] == len(copy.expected)


def test_table_round_trip() -> None:
    headers = ["size", "run", "files", "CPU s", "CPU × ruff"]
    rows = [["1×", "cold", "1,000", "53.0", "440×"], ["2×", "1 changed", "2,000", "0.31", "1.2×"]]
    table = bench.format_table(headers, rows, [True, False, True, True, True])
    lines = table.splitlines()
    assert lines[1] == "| ---: | --------- | ----: | ----: | ---------: |"
    assert len({len(line) for line in lines}) == 1  # padded columns
    assert bench.parse_table("Some text\n\n" + table + "\n| a | b |\n") == [
        dict(zip(headers, row)) for row in rows]
    assert bench.parse_table("no table here") == []


@pytest.mark.parametrize("cell,number", [
    ("1,000", 1000.0), ("53.0", 53.0), ("440×", 440.0), ("1.2×", 1.2), ("8×", 8.0),
    ("103 (planted 105)", 103.0), ("-", None), ("", None),
])
def test_parse_number(cell: str, number) -> None:
    assert bench.parse_number(cell) == number


def test_number_formats() -> None:
    assert [bench.fmt_float(v) for v in (0.123, 4.56, 53.04, 1234.5, None)] == \
        ["0.12", "4.56", "53.0", "1,234", "-"]
    assert [bench.fmt_ratio(v) for v in (1.23, 81.4, 4400.0, None)] == \
        ["1.2×", "81×", "4,400×", "-"]
    assert bench.fmt_int(1234567.4) == "1,234,567"


def test_baseline_from_a_table_or_json(tmp_path: Path) -> None:
    table = bench.format_table(["size", "run", "CPU s"], [["1×", "cold", "53.0"],
                                                          ["2×", "cold", "1,119"],
                                                          ["2×", "warm", "0.80"]])
    saved = tmp_path / "before.md"
    saved.write_text("flushguard 0.1.0, ...\n\n" + table)
    assert bench.load_baseline(saved) == {(1, "cold"): 53.0, (2, "cold"): 1119.0,
                                          (2, "warm"): 0.8}
    runs = [{"tool": "ruff", "mode": "cold", "cpu_s": 1.0},
            {"tool": "flushguard", "mode": "changed", "cpu_s": 2.5}]
    data = {"sizes": [{"size": 4, "runs": runs}]}
    saved_json = tmp_path / "before.json"
    saved_json.write_text(json.dumps(data))
    assert bench.load_baseline(saved_json) == {(4, "1 changed"): 2.5}


def test_no_cache_detection() -> None:
    assert bench.supports_no_cache("  --no-cache          Neither read nor write the cache.\n")
    assert not bench.supports_no_cache("  --no-progress  Never show the progress bar.\n")
    assert bench.supports_no_cache("  --cache / --no-cache  Read and write the cache.\n")
    assert not bench.supports_no_cache("  --no-cache-dir  Another option.\n")
    assert not bench.supports_no_cache("  --no-cachex\n")


def test_tool_output_readers() -> None:
    matches = "app/a.py:3:    await s.flush()\napp/b.py:9:    await db.flush()\n"
    m = bench.Measurement("ast-grep", "cold", [], 0, 0, 0, 0, 0, 0, 0, 0, stdout=matches)
    assert bench.read_ast_grep(m).count == 2
    m.stdout = "x.py:1:1: ASYNC230 ...\nFound 3 errors.\n"
    assert bench.read_ruff(m).count == 3
    m.stdout = "All checks passed!\n"
    assert bench.read_ruff(m).count == 0
    m.stdout = json.dumps({"summary": {"findings": 5, "files_scanned": 60}})
    assert bench.read_flushguard(m).count == 5 and m.files_scanned == 60


STUB = textwrap.dedent("""\
    import json, os, sys
    if "--help" in sys.argv:
        print("  --no-cache  Neither read nor write the cache.")
        sys.exit(0)
    with open(os.environ["STUB_LOG"], "a") as log:
        log.write(json.dumps(sys.argv[1:]) + "\\n")
    print(json.dumps({"summary": {"findings": 0, "files_scanned": 0}, "findings": []}))
    sys.exit(0)
""")


def test_cache_runs_with_a_stub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With --no-cache on offer: a cold run with it, then cache fill, warm, and one file
    changed between the warm run and the last; every measurement has its numbers."""
    stub = tmp_path / "stub.py"
    stub.write_text(STUB)
    log = tmp_path / "log"
    monkeypatch.setenv("STUB_LOG", str(log))
    command = [sys.executable, str(stub)]
    assert bench.supports_no_cache(bench.flushguard_help(command))
    touched = []
    real_touch = synthetic.touch
    monkeypatch.setattr(synthetic, "touch", lambda root, path, n=1: (touched.append(path),
                                                                     real_touch(root, path, n)))
    result = bench.bench_size(1, 60, 1, tmp_path / "out", {"flushguard": command}, cache=True,
                              interval=0.005, keep=True)
    assert [m.mode for m in result.runs] == ["cold", "fill", "warm", "changed"]
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert calls[0] == ["check", "--format", "json", "--no-cache", "."]
    assert calls[1:] == [["check", "--format", "json", "."]] * 3
    assert len(touched) == 1 and touched[0].startswith("app/services/")
    assert "_edited_1" in (Path(result.root) / touched[0]).read_text()
    for m in result.runs:
        assert m.exit_code == 0 and m.count == 0
        assert m.cpu_s >= 0 and m.wall_s >= 0 and m.samples >= 1
        assert m.launcher_mib > 0 and m.ru_maxrss_mib > 0
        assert 0 < m.hwm_mib <= m.max_process_mib <= m.peak_mib
    headers, rows = bench.main_rows([result], {})
    assert "CPU × ruff" not in headers and "CPU speed-up" not in headers
    assert [row[1] for row in rows] == ["cold", "cache fill", "warm", "1 changed"]
    assert rows[0][headers.index("findings")] == f"0 (planted {result.planted})"


def test_process_tree_includes_children(tmp_path: Path) -> None:
    script = tmp_path / "tree.py"
    script.write_text(textwrap.dedent("""\
        import subprocess, sys, time
        if len(sys.argv) > 1:
            time.sleep(2)
        else:
            subprocess.run([sys.executable, __file__, "child"])
    """))
    proc = subprocess.Popen([sys.executable, str(script)])
    try:
        pids = []
        for _ in range(100):
            pids = bench.process_tree(proc.pid)
            if len(pids) >= 2:
                break
            time.sleep(0.01)
        assert pids[0] == proc.pid and len(pids) == 2
        assert bench.tree_rss(proc.pid) > 0
    finally:
        proc.wait()
    assert bench.tree_rss(os.getpid()) > 0


def test_help_runs() -> None:
    done = subprocess.run([sys.executable, str(BENCHMARKS / "run.py"), "--help"],
                          check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    for option in ("--sizes", "--base-files", "--keep", "--out", "--flushguard", "--json",
                   "--baseline"):
        assert option in done.stdout

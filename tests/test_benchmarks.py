"""benchmarks/: the synthetic projects (the default profile and the service-heavy one) are valid
Python, flushguard finds exactly the bugs the generator planted in them, and the script's
measuring, parsing and tables work.

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
import service_heavy  # noqa: E402  (benchmarks/ is on sys.path now)

#: Small enough for a test, large enough for a few domains and every rule.
TINY = 150
#: The same for the service profile (six domains: its files are longer and denser).
SERVICE_TINY = 100
CODES = {"FG001", "FG002", "FG003", "FG004"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("bench") / "project"
    return synthetic.generate(root, TINY, seed=1)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("bench") / "service"
    return synthetic.generate(root, SERVICE_TINY, seed=1, profile="service")


@pytest.fixture(scope="module")
def revealed(tmp_path_factory: pytest.TempPathFactory):
    """The same project with the loads its getters perform written out at their calls."""
    root = tmp_path_factory.mktemp("bench") / "revealed"
    return synthetic.generate(root, SERVICE_TINY, seed=1, profile="service", reveal=True)


def _digest(root: Path) -> Dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _positions(items) -> list:
    return sorted((e.path, e.line, e.code) for e in items)


def _check(root: Path, files: int) -> list:
    """flushguard's findings on ``root``, as (path, line, code); the run must be clean."""
    done = flushguard("check", "--format", "json", "--no-cache", ".", cwd=root)
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["errors"] == []
    assert report["summary"]["files_scanned"] == files
    assert report["summary"]["possible"] == 0
    return sorted((f["path"], f["line"], f["code"]) for f in report["findings"])


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
    assert rows[0][headers.index("findings")] == \
        f"0 (planted {result.planted}: {result.planted} missing)"
    assert all(m.missing == result.planted and m.unexpected == 0 for m in result.runs)


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
                   "--baseline", "--profile"):
        assert option in done.stdout


# --------------------------------------------------------------------------
# The service-heavy profile
# --------------------------------------------------------------------------


def test_service_project_is_valid_python(service) -> None:
    sources = sorted(service.root.rglob("*.py"))
    assert len(sources) == service.files == SERVICE_TINY
    for path in sources:
        text = path.read_text(encoding="utf-8")
        libcst.parse_module(text)
        compile(text, str(path), "exec")
    assert service.lines == sum(p.read_text().count("\n") for p in sources)
    assert service.profile == "service" and service.domains >= 5


def test_service_flushguard_finds_exactly_the_planted_bugs(service) -> None:
    assert {e.code for e in service.expected} == CODES
    assert _check(service.root, service.files) == _positions(service.expected)


def test_service_bugs_behind_getters_are_found_as_if_the_load_were_written_out(
        service, revealed) -> None:
    """The bugs behind getters are real and followed: written as the ``db.get`` the getter
    performs (on the same line, nothing else changed), the findings are the same."""
    assert not service.latent and not revealed.latent
    assert _positions(revealed.expected) == _positions(service.expected)
    assert _check(revealed.root, revealed.files) == _positions(revealed.expected)
    changed = 0
    for path in sorted(service.root.rglob("*.py")):
        ours = path.read_text().splitlines()
        theirs = (revealed.root / path.relative_to(service.root)).read_text().splitlines()
        assert len(ours) == len(theirs), path
        for mine, other in zip(ours, theirs):
            if mine != other:
                changed += 1
                assert "self.db.get(" in other and "self.db.get(" not in mine, (mine, other)
                assert "_or_404(" in mine or "self.repo.get_" in mine, mine
    assert changed > 0


def test_service_project_has_dense_services(service) -> None:
    """Most service modules flush or commit, several times each; the other files of a domain
    (routers, jobs, workflows) commit too; about 0.3 flush and 0.7 commit sites per file."""
    services = [p for p in (service.root / "app" / "services").glob("*.py")
                if p.name != "__init__.py"]
    assert len(services) >= service.domains
    dense = [p for p in services if p.relative_to(service.root).as_posix() in service.sites]
    assert len(dense) >= 0.9 * len(services)
    per_service = [sum(service.sites[p.relative_to(service.root).as_posix()]) for p in dense]
    assert sum(per_service) / len(per_service) >= 3
    # Per file of the domains: at this size the shared files (settings, packages) are 40 %.
    shared = sum(1 for path in service_heavy.SHARED if path.endswith(".py")) \
        + len(service_heavy.PACKAGES) + 1
    own = service.files - shared
    flush = sum(f for f, _ in service.sites.values())
    commit = sum(c for _, c in service.sites.values())
    assert 0.15 <= flush / own <= 0.45
    assert 0.5 <= commit / own <= 1.0
    assert commit > 2 * flush
    assert any(path.startswith("app/routers/") for path in service.sites)
    assert any(path.startswith("app/jobs/") for path in service.sites)
    text = "\n".join(p.read_text() for p in services)
    for shape in ("setattr(", "_or_404(", "await self.repo.get_", "Depends(get_db)",
                  "self.db.refresh("):
        assert shape in text or shape in "\n".join(
            p.read_text() for p in (service.root / "app" / "routers").glob("*.py")), shape


def test_service_base_unit_has_the_shape_of_a_service_heavy_backend(tmp_path: Path) -> None:
    """1,000 files: about 380 lines a file, 0.3 flush and 0.7 commit sites a file, about 250
    models, long service classes; twice the files, about twice the planted findings."""
    base = synthetic.generate(tmp_path / "base", 1000, seed=1, profile="service")
    assert base.files == 1000
    assert 330 <= base.lines / base.files <= 450
    flush = sum(f for f, _ in base.sites.values())
    commit = sum(c for _, c in base.sites.values())
    assert 0.2 <= flush / base.files <= 0.4
    assert 0.6 <= commit / base.files <= 0.9
    assert 200 <= base.models <= 300
    assert {e.code for e in base.expected} == CODES
    assert base.latent == []  # the bugs behind getters are planted: the analysis follows them
    services = [p for p in (base.root / "app" / "services").glob("*.py")
                if not p.name.endswith(("_workflow.py", "__init__.py"))]
    lengths = sorted(p.read_text().count("\n") for p in services)
    assert lengths[0] >= 280 and 300 <= lengths[len(lengths) // 2] <= 1000
    double = synthetic.generate(tmp_path / "double", 2000, seed=1, profile="service")
    assert 1.8 <= len(double.expected) / len(base.expected) <= 2.2


def test_service_generation_is_deterministic_and_grows_by_domains(tmp_path: Path) -> None:
    one = synthetic.generate(tmp_path / "a", SERVICE_TINY, seed=7, profile="service")
    two = synthetic.generate(tmp_path / "b", SERVICE_TINY, seed=7, profile="service")
    assert _digest(one.root) == _digest(two.root)
    assert one.expected == two.expected and one.latent == two.latent
    other = synthetic.generate(tmp_path / "c", SERVICE_TINY, seed=8, profile="service")
    assert _digest(other.root) != _digest(one.root)
    larger = synthetic.generate(tmp_path / "d", 2 * SERVICE_TINY, seed=7, profile="service")
    for path in (one.root / "app" / "services").glob("*.py"):
        if path.name.endswith("_workflow.py"):
            continue  # the last domain of the smaller project may have had no room for it
        assert (larger.root / path.relative_to(one.root)).read_bytes() == path.read_bytes()


def test_unknown_profile_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown profile"):
        synthetic.generate(tmp_path / "x", 100, profile="monolith")


def test_expected_findings_are_compared_by_position() -> None:
    expected, latent = bench.read_expected(
        "app/a.py:3: FG001\napp/b.py:9: FG004 latent\nnoise\napp/c.py:12: FG004\n")
    assert expected == [("app/a.py", 3, "FG001"), ("app/c.py", 12, "FG004")]
    assert latent == [("app/b.py", 9, "FG004")]
    m = bench.Measurement("flushguard", "cold", [], 1, 0, 0, 0, 0, 0, 0, 0, count=2)
    m.found = [("app/a.py", 3, "FG001"), ("app/c.py", 12, "FG004")]
    assert bench.compare(m, expected, latent) == []
    assert (m.missing, m.unexpected, m.found) == (0, 0, None)
    assert bench.findings_note(m, 2) == ""
    # Same count, another place: still a difference.
    m.found = [("app/a.py", 3, "FG001"), ("app/c.py", 13, "FG004")]
    assert bench.compare(m, expected, latent) == ["missing app/c.py:12: FG004",
                                                  "unexpected app/c.py:13: FG004"]
    assert bench.findings_note(m, 2) == " (planted 2: 1 missing, 1 unexpected)"
    # The analysis learnt to see a latent bug.
    m.count, m.found = 3, [*expected, ("app/b.py", 9, "FG004")]
    bench.compare(m, expected, latent)
    assert (m.missing, m.unexpected, m.unexpected_latent) == (0, 1, 1)
    assert bench.findings_note(m, 2) == " (planted 2: 1 unexpected, 1 latent)"
    data = bench._run_json(m)
    assert "found" not in data and data["unexpected_latent"] == 1


def test_flushguard_report_positions_are_read() -> None:
    report = {"summary": {"findings": 1, "files_scanned": 3},
              "findings": [{"path": "app/a.py", "line": 7, "code": "FG003", "col": 1}]}
    m = bench.Measurement("flushguard", "cold", [], 1, 0, 0, 0, 0, 0, 0, 0,
                          stdout=json.dumps(report))
    assert bench.read_flushguard(m).found == [("app/a.py", 7, "FG003")]


def test_baseline_of_another_profile_is_refused(tmp_path: Path) -> None:
    saved = tmp_path / "service.json"
    saved.write_text(json.dumps({"profile": "service", "sizes": [
        {"size": 1, "runs": [{"tool": "flushguard", "mode": "cold", "cpu_s": 60.0}]}]}))
    assert bench.load_baseline(saved, "service") == {(1, "cold"): 60.0}
    with pytest.raises(SystemExit, match="service profile"):
        bench.load_baseline(saved, "default")
    # Files written before profiles existed measured the default one.
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"sizes": []}))
    assert bench.load_baseline(old, "default") == {}


def test_service_profile_runs_with_a_stub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stub = tmp_path / "stub.py"
    stub.write_text(STUB)
    monkeypatch.setenv("STUB_LOG", str(tmp_path / "log"))
    result = bench.bench_size(1, 60, 1, tmp_path / "out", {"flushguard": [sys.executable,
                                                                           str(stub)]},
                              cache=False, interval=0.005, keep=True, profile="service")
    assert Path(result.root).name == "project-service-1x"
    assert result.profile == "service" and result.files == 60
    assert result.flush_sites and result.commit_sites and result.models
    assert [m.mode for m in result.runs] == ["cold"]
    assert result.runs[0].missing == result.planted > 0

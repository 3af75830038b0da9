"""The cache of per-file facts: a warm run parses nothing it parsed before and finds the same.

Runs go through the engine in this process (one job) so that parsing can be counted; the
command-line tests at the end run the real console script.
"""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
from pathlib import Path

import libcst
import pytest

from clikit import MODELS, SERVICE, TWO_FIXES, flushguard, make_project
from codemods import cache as cache_mod
from codemods import engine, frontend
from codemods.options import load_options

ONE_JOB = {"jobs": 1}


@pytest.fixture
def parses(monkeypatch):
    """Every text parsed during the test (by LibCST or by the front end), in order."""
    seen = []

    def counting(real):
        def parse(source, *args, **kwargs):
            seen.append(source)
            return real(source, *args, **kwargs)
        return parse

    monkeypatch.setattr(libcst, "parse_module", counting(libcst.parse_module))
    monkeypatch.setattr(frontend, "parse", counting(frontend.parse))
    # Texts this process lowered before would not be parsed again whatever the cache holds.
    monkeypatch.setattr(engine, "_LOWERED", {})
    return seen


@pytest.fixture
def analysed(monkeypatch):
    """The path of every module analysed during the test, in order."""
    import codemods.analysis

    seen = []
    real = codemods.analysis.analyze

    def analyze(module, source, path, *args, **kwargs):
        seen.append(path)
        return real(module, source, path, *args, **kwargs)

    monkeypatch.setattr(codemods.analysis, "analyze", analyze)
    return seen


def _run(project: Path, **kwargs):
    return engine.run(load_options([project], ONE_JOB, cwd=project, **kwargs))


def _findings(result):
    return [(f.path, f.line, f.column, f.code, f.message, f.fix) for f in result.findings]


def test_a_warm_run_parses_nothing_and_finds_the_same(tmp_path: Path, parses) -> None:
    project = make_project(tmp_path / "p", extra={"app/two.py": TWO_FIXES})
    cold = _run(project)
    assert cold.findings and parses
    parses.clear()
    warm = _run(project)
    assert parses == []
    assert _findings(warm) == _findings(cold)
    assert [o.new_data for o in warm.outcomes] == [o.new_data for o in cold.outcomes]
    assert [o.sites for o in warm.outcomes] == [o.sites for o in cold.outcomes]


def test_one_changed_file_is_the_only_one_parsed_again(tmp_path: Path, parses) -> None:
    project = make_project(tmp_path / "p", extra={"app/two.py": TWO_FIXES})
    _run(project)
    service = project / "app" / "service.py"
    service.write_text(SERVICE.replace("email: str", "email: str, name: str = ''"), encoding="utf-8")
    parses.clear()
    warm = _run(project)
    # The changed file is parsed (and its fix); the models and the other service are not.
    assert any("name: str = ''" in text for text in parses)
    assert not any("__tablename__" in text or "async def rename" in text for text in parses)
    fresh = _run(project, cache=False)
    assert _findings(warm) == _findings(fresh)


HELPER = """\
from app.models import User


class Users:
    def __init__(self, db):
        self.db = db

    async def rename(self, user: User, email: str) -> User:
        user.email = email
        await self.db.commit()
        return user
"""

CALLER = """\
from app.helpers import Users
from app.models import User


async def show(db, user_id: int) -> dict:
    user = await db.get(User, user_id)
    renamed = await Users(db).rename(user, "new@example.com")
    return {"joined": renamed.created_at}
"""

UNRELATED = """\
from app.models import User


async def touch(db, user: User) -> None:
    user.email = "x"
    await db.commit()
"""


def test_a_changed_function_costs_its_callers_and_only_them(tmp_path: Path, analysed) -> None:
    project = make_project(tmp_path / "p", extra={
        "app/helpers.py": HELPER, "app/api.py": CALLER, "app/other.py": UNRELATED})
    assert [f.path for f in _run(project).findings] == ["app/helpers.py", "app/service.py"]
    # A change elsewhere that no question of the caller's analysis depends on: the caller's
    # result is reused, not computed again.
    (project / "app" / "other.py").write_text(UNRELATED + "\n\nasync def noop(db):\n    await db.flush()\n",
                                              encoding="utf-8")
    analysed.clear()
    unrelated = _run(project)
    assert "app/other.py" in analysed and "app/api.py" not in analysed
    assert _findings(unrelated) == _findings(_run(project, cache=False))
    # A change of what the helper does for its callers: the caller is analysed again, and
    # finds what a fresh run finds (the helper now refreshes, so nothing is left to report).
    (project / "app" / "helpers.py").write_text(HELPER.replace(
        "        await self.db.commit()\n", "        await self.db.commit()\n        await self.db.refresh(user)\n"),
        encoding="utf-8")
    analysed.clear()
    changed = _run(project)
    assert "app/helpers.py" in analysed and "app/api.py" in analysed
    assert _findings(changed) == _findings(_run(project, cache=False))
    assert [f.path for f in changed.findings] == ["app/service.py"]


def test_what_a_file_depends_on_is_part_of_the_key(tmp_path: Path) -> None:
    # A changed model changes the analysis of an unchanged service: never a stale answer.
    project = make_project(tmp_path / "p")
    first = _run(project)
    assert [f.attributes for f in first.findings] == [("created_at",)]
    models = project / "app" / "models.py"
    models.write_text(MODELS.replace("server_default=func.now()", "default=None"), encoding="utf-8")
    assert _run(project).findings == ()
    # So do the settings.
    models.write_text(MODELS, encoding="utf-8")
    assert _run(project).findings
    options = load_options([project], {**ONE_JOB, "expire-on-commit": False}, cwd=project)
    assert engine.run(options).findings


def test_the_cache_folder_keeps_out_of_git_and_backups(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    _run(project)
    folder = project / cache_mod.FOLDER
    assert (folder / ".gitignore").read_text(encoding="utf-8").splitlines()[-1] == "*"
    assert (folder / "CACHEDIR.TAG").read_text(encoding="utf-8").startswith(
        "Signature: 8a477f597d28d172789f06886806bc55")
    status = subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=project,
                            capture_output=True, text=True, check=True).stdout
    assert cache_mod.FOLDER not in status.replace(f"!! {cache_mod.FOLDER}/", "")
    entries = list(folder.rglob("*.pickle"))
    assert len(entries) == 2  # file facts, and the analysis under these settings


def test_no_cache_writes_nothing_and_cache_dir_moves_it(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    _run(project, cache=False)
    assert not (project / cache_mod.FOLDER).exists()
    elsewhere = tmp_path / "elsewhere"
    _run(project, cache_dir=elsewhere)
    assert not (project / cache_mod.FOLDER).exists()
    assert list(elsewhere.rglob("*.pickle")) and (elsewhere / "CACHEDIR.TAG").exists()


def test_a_corrupt_or_foreign_cache_is_ignored(tmp_path: Path, parses) -> None:
    project = make_project(tmp_path / "p")
    expected = _findings(_run(project))
    for entry in (project / cache_mod.FOLDER).rglob("*.pickle"):
        entry.write_bytes(b"\x80\x05not a pickle")
    assert _findings(_run(project)) == expected
    for entry in (project / cache_mod.FOLDER).rglob("*.pickle"):
        entry.write_bytes(pickle.dumps(["not", "a", "dict"]))
    assert _findings(_run(project)) == expected


def test_an_old_builds_entries_are_removed(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    old = project / cache_mod.FOLDER / "0123456789abcdef"
    old.mkdir(parents=True)
    (old / "x.pickle").write_bytes(b"")
    _run(project)
    assert not old.exists()
    assert (project / cache_mod.FOLDER / cache_mod.tool_digest()).is_dir()


def test_a_change_anywhere_in_the_tool_is_a_new_build(tmp_path: Path) -> None:
    """The analysis lives in subpackages: editing one must not reuse the old results."""
    package = Path(cache_mod.__file__).resolve().parent
    copy = tmp_path / "codemods"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = cache_mod.code_digest(copy)
    assert before == cache_mod.tool_digest()
    interpreter = copy / "analysis" / "interpreter.py"
    interpreter.write_text(interpreter.read_text() + "\n# changed\n")
    assert cache_mod.code_digest(copy) != before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_project_runs_without_a_cache(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    os.chmod(project, 0o555)
    try:
        assert _run(project).findings
    finally:
        os.chmod(project, 0o755)
    assert not (project / cache_mod.FOLDER).exists()


def test_an_unwritable_cache_dir_only_costs_time(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be", encoding="utf-8")
    assert _run(project, cache_dir=blocker).findings
    assert blocker.read_text(encoding="utf-8").startswith("a file")


def test_digests_are_the_same_in_every_process() -> None:
    # Sets are ordered by hash, and string hashes differ between processes.
    code = ("from codemods.cache import digest; from codemods.types import CallFacts;"
            "print(digest(CallFacts(untraced=frozenset({'a', 'b', 'c', 'd'}))))")
    outputs = {
        subprocess.run([os.sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONHASHSEED": seed}).stdout
        for seed in ("1", "2", "3")
    }
    assert len(outputs) == 1


def test_the_command_line_flags(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    result = flushguard("check", "--no-cache", ".", cwd=project)
    assert result.returncode == 1
    assert not (project / cache_mod.FOLDER).exists()
    result = flushguard("check", ".", cwd=project, env={"FLUSHGUARD_CACHE_DIR": str(tmp_path / "c")})
    assert result.returncode == 1
    assert (tmp_path / "c" / "CACHEDIR.TAG").exists()
    assert not (project / cache_mod.FOLDER).exists()
    first = flushguard("check", ".", cwd=project)
    second = flushguard("check", ".", cwd=project)
    assert (project / cache_mod.FOLDER).is_dir()
    assert first.stdout == second.stdout and first.returncode == second.returncode == 1

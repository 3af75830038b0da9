"""flushguard's own code runs on Python 3.10: no syntax of a later version anywhere.

The check is ruff's parser with `--target-version py310`, which reports every construct a
later Python introduced ("Cannot use `except*` on Python 3.10 (syntax was added in Python
3.11)") whatever Python runs the tests; then `ast.parse(..., feature_version=(3, 10))` of the
running interpreter, and, when a Python 3.10 is installed, that interpreter's own compiler.
Each checker is first shown to catch syntax planted in a copy of the package, so that none of
them can pass by checking nothing.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List, Optional

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Everything flushguard's users or its tests run: the package, the tests, the benchmarks, and
#: the example projects and snapshot cases that the tests import.
OWN = ("codemods", "tests", "benchmarks", "examples", "snapshots")

#: Syntax newer than 3.10, one line each (with the version that introduced it), planted in a
#: copy of the package to prove that a checker catches it.
NEWER = {
    "except-star": ("try:\n    pass\nexcept* ValueError:\n    pass\n", (3, 11)),
    "star-in-index": ("def f(x, a):\n    return x[*a]\n", (3, 11)),
    "type-parameters": ("def first[T](items: list[T]) -> T:\n    return items[0]\n", (3, 12)),
    "type-alias": ("type Pair = tuple[int, int]\n", (3, 12)),
    "f-string-quotes": ("NAME = f\"{'-'.join([\"a\", \"b\"])}\"\n", (3, 12)),
    "type-parameter-default": ("class Box[T = int]:\n    pass\n", (3, 13)),
    "except-without-parentheses": (
        "try:\n    pass\nexcept ValueError, TypeError:\n    pass\n", (3, 14)),
    "t-string": ("GREETING = t\"hello {__name__}\"\n", (3, 14)),
}


def _python_files(root: Path, folders=OWN) -> List[Path]:
    found = []
    for folder in folders:
        found.extend(p for p in sorted((root / folder).rglob("*.py"))
                     if not any(part.startswith(".") for part in p.relative_to(root).parts))
    return found


# -- the checkers ------------------------------------------------------------------------------


def ruff_findings(root: Path, folders=OWN) -> List[str]:
    """ruff's report of syntax newer than Python 3.10 (and of any syntax error), one line each."""
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache",
         "--target-version", "py310", "--select", "E9", "--output-format", "concise",
         *[str(root / f) for f in folders if (root / f).exists()]],
        capture_output=True, text=True, cwd=root, timeout=300)
    assert done.returncode in (0, 1), done.stderr  # 2: ruff itself failed
    lines = [line for line in done.stdout.splitlines() if ": " in line and ".py:" in line]
    assert (done.returncode == 1) == bool(lines), done.stdout + done.stderr
    return lines


def ast_findings(files: List[Path]) -> List[str]:
    """What the running interpreter's parser, told to read Python 3.10, rejects."""
    rejected = []
    for path in files:
        try:
            ast.parse(path.read_text(encoding="utf-8"), str(path), feature_version=(3, 10))
        except SyntaxError as exc:
            rejected.append(f"{path}:{exc.lineno}: {exc.msg}")
    return rejected


def python310() -> Optional[str]:
    """A Python 3.10 interpreter on this machine (PATH or pyenv), else None."""
    candidates = [shutil.which("python3.10")]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    if pyenv.is_dir():
        candidates += [str(p / "bin" / "python3.10") for p in sorted(pyenv.glob("3.10*"))]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            version = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2])"],
                                     capture_output=True, text=True)
            if version.stdout.strip() == "(3, 10)":
                return candidate
    return None


COMPILE_ALL = """\
import sys
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as handle:
        source = handle.read()
    try:
        compile(source, path, "exec", dont_inherit=True)
    except SyntaxError as exc:
        print(f"{path}:{exc.lineno}: {exc.msg}")
"""


def python310_findings(interpreter: str, files: List[Path]) -> List[str]:
    done = subprocess.run([interpreter, "-c", COMPILE_ALL, *map(str, files)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


# -- the checks ------------------------------------------------------------------------------


def test_ruff_finds_no_syntax_newer_than_python_310() -> None:
    files = _python_files(ROOT)
    assert len([f for f in files if f.parts[-2] == "codemods"]) >= 10
    assert ruff_findings(ROOT) == []


def test_python_parser_in_310_mode_accepts_the_package() -> None:
    files = _python_files(ROOT)
    assert ast_findings(files) == []


def test_python_310_itself_compiles_every_file() -> None:
    interpreter = python310()
    if interpreter is None:
        pytest.skip("no Python 3.10 interpreter on this machine (ruff's check above still ran)")
    assert python310_findings(interpreter, _python_files(ROOT)) == []


def test_the_package_declares_python_310() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'requires-python = ">=3.10"' in pyproject
    assert 'target-version = "py310"' in pyproject


# -- the checkers catch what they are for ----------------------------------------------------


@pytest.fixture(scope="module")
def package_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("own") / "flushguard"
    shutil.copytree(ROOT / "codemods", copy / "codemods",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def _plant(copy: Path, name: str) -> Path:
    """A copy of a real module of the package with the newer syntax added at its end."""
    source, _ = NEWER[name]
    planted = copy / "codemods" / "rules.py"
    original = (ROOT / "codemods" / "rules.py").read_text()
    planted.write_text(original + "\n\n" + source)
    return planted


@pytest.mark.parametrize("name", sorted(NEWER))
def test_ruff_check_catches_planted_syntax(package_copy: Path, name: str) -> None:
    planted = _plant(package_copy, name)
    try:
        found = ruff_findings(package_copy, ("codemods",))
    finally:
        shutil.copy(ROOT / "codemods" / "rules.py", planted)
    first = len((ROOT / "codemods" / "rules.py").read_text().splitlines()) + 3
    _, version = NEWER[name]
    assert found, name
    assert {(package_copy / line.split(":")[0]).resolve() for line in found} == {planted.resolve()}
    assert any(int(line.split(":")[1]) >= first for line in found), found
    assert any(f"added in Python {version[0]}.{version[1]}" in line for line in found), found
    # and the unchanged copy is clean again
    assert ruff_findings(package_copy, ("codemods",)) == []


@pytest.mark.parametrize("name", sorted(NEWER))
def test_python_parser_check_catches_planted_syntax(package_copy: Path, name: str) -> None:
    """Syntax the running Python knows is rejected in 3.10 mode (`feature_version` covers
    `except*`, the star in an index, and little else); syntax it does not know is rejected
    whatever the mode."""
    planted = _plant(package_copy, name)
    try:
        found = ast_findings([planted])
    finally:
        shutil.copy(ROOT / "codemods" / "rules.py", planted)
    _, version = NEWER[name]
    if sys.version_info < version or name == "except-star":
        assert found and found[0].startswith(f"{planted}:"), (name, found)
    assert ast_findings([planted]) == []


@pytest.mark.parametrize("name", sorted(NEWER))
def test_python_310_catches_planted_syntax(package_copy: Path, name: str) -> None:
    interpreter = python310()
    if interpreter is None:
        pytest.skip("no Python 3.10 interpreter on this machine")
    planted = _plant(package_copy, name)
    try:
        found = python310_findings(interpreter, [planted])
    finally:
        shutil.copy(ROOT / "codemods" / "rules.py", planted)
    assert len(found) == 1 and found[0].startswith(f"{planted}:"), found

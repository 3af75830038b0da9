"""A run never looks clean because it could not see the project (issue 7, item 2).

Tried as a new user would, in a folder with no git repository and no pyproject.toml, a file
named on its own (`check app/services/people.py`) or a buffer on stdin used to be analysed
without the models beside it and reported 0 findings where `check .` reported them all. The
project root now falls back to the current folder when no marker is found above the paths
(as ruff does), and a run that finds sites but no model, or leaves most of the application's
sites untracked, says so on stderr with the likely reason and what fixes it.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Dict

import pytest

from clikit import flushguard
from codemods import engine

MODELS = textwrap.dedent(
    """\
    from datetime import datetime

    from sqlalchemy import ForeignKey, func
    from sqlalchemy.orm import Mapped, mapped_column, relationship

    from app.models.base import Base


    class Team(Base):
        __tablename__ = "teams"

        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str]
        members: Mapped[list["Person"]] = relationship(back_populates="team")


    class Person(Base):
        __tablename__ = "people"

        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str]
        email: Mapped[str]
        team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
        team: Mapped[Team] = relationship(back_populates="members")
        created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    """
)

BASE = textwrap.dedent(
    """\
    from sqlalchemy.orm import DeclarativeBase


    class Base(DeclarativeBase):
        pass
    """
)

#: 15 findings (14 FG003 after commit, 1 FG002 after a flush) in six functions, six sites.
PEOPLE = textwrap.dedent(
    """\
    from sqlalchemy.ext.asyncio import AsyncSession

    from ..models.person import Person, Team


    async def rename(session: AsyncSession, person_id: int, name: str) -> dict:
        person = await session.get(Person, person_id)
        person.name = name
        await session.commit()
        return {"id": person.id, "name": person.name, "email": person.email}


    async def move(session: AsyncSession, person_id: int, team_id: int) -> dict:
        person = await session.get(Person, person_id)
        person.team_id = team_id
        await session.commit()
        return {"id": person.id, "team": person.team_id, "name": person.name}


    async def new_team(session: AsyncSession, name: str) -> list:
        team = Team(name=name)
        session.add(team)
        await session.flush()
        return [m.name for m in team.members]


    async def hire(session: AsyncSession, name: str, email: str) -> dict:
        person = Person(name=name, email=email, team_id=1)
        session.add(person)
        await session.commit()
        return {"id": person.id, "name": person.name, "email": person.email,
                "at": person.created_at}


    async def rename_team(session: AsyncSession, team_id: int, name: str) -> str:
        team = await session.get(Team, team_id)
        team.name = name
        await session.commit()
        return f"{team.id}: {team.name}"


    async def fire(session: AsyncSession, person_id: int) -> str:
        person = await session.get(Person, person_id)
        person.team_id = None
        await session.commit()
        return person.email + person.name
    """
)
FINDINGS = 15


def unmarked_project(root: Path, package_root: str = "", people: str = PEOPLE) -> Path:
    """Models in app/models/, services in app/services/; no git, no pyproject.toml, nothing
    that marks a project's top."""
    files: Dict[str, str] = {
        "app/__init__.py": "",
        "app/models/__init__.py": "from app.models.person import Person, Team\n",
        "app/models/base.py": BASE,
        "app/models/person.py": MODELS,
        "app/services/__init__.py": "",
        "app/services/people.py": people,
    }
    for name, text in files.items():
        path = root / package_root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for folder in [root, *root.parents]:
        assert not any((folder / m).exists() for m in engine.ROOT_MARKERS), \
            f"{folder} holds a project marker: the test needs a folder with none above it"
    return root


def findings(stdout: str) -> list:
    """The findings' ``line:col: CODE`` parts, whatever path they are printed under."""
    return [line.split(":", 1)[1] for line in stdout.splitlines() if ": FG00" in line]


def warnings(stderr: str) -> list:
    return [line for line in stderr.splitlines() if line.startswith("warning: ")]


def test_a_file_named_alone_finds_what_its_folder_finds(tmp_path: Path) -> None:
    project = unmarked_project(tmp_path / "p")
    whole = flushguard("check", "--no-cache", ".", cwd=project)
    alone = flushguard("check", "--no-cache", "app/services/people.py", cwd=project)
    assert whole.returncode == alone.returncode == 1, (whole.stderr, alone.stderr)
    assert len(findings(whole.stdout)) == FINDINGS
    assert findings(alone.stdout) == findings(whole.stdout)
    assert warnings(whole.stderr) == warnings(alone.stderr) == []


def test_source_on_stdin_finds_what_the_file_finds(tmp_path: Path) -> None:
    project = unmarked_project(tmp_path / "p")
    done = flushguard("check", "--no-cache", "-", "--stdin-filename", "app/services/people.py",
                      cwd=project, input=PEOPLE)
    assert done.returncode == 1, done.stderr
    assert len(findings(done.stdout)) == FINDINGS
    assert all(line.startswith("app/services/people.py:") for line in done.stdout.splitlines())


def test_stdin_without_its_filename_says_why_it_found_nothing(tmp_path: Path) -> None:
    # Its relative import cannot resolve from stdin.py at the top: every site is untracked.
    project = unmarked_project(tmp_path / "p")
    done = flushguard("check", "--no-cache", "-", cwd=project, input=PEOPLE)
    assert done.returncode == 0, done.stderr
    (warning,) = warnings(done.stderr)
    assert "6 of 6 flush/commit sites in application code are untracked" in warning
    assert "pass --stdin-filename PATH" in warning
    assert "Traceback" not in done.stderr


def test_a_run_that_cannot_see_the_models_says_so(tmp_path: Path) -> None:
    # Run inside the services folder: the current folder is taken as the project.
    project = unmarked_project(tmp_path / "p")
    done = flushguard("check", "--no-cache", ".", cwd=project / "app" / "services")
    assert done.returncode == 0, done.stderr
    (warning,) = warnings(done.stderr)
    assert warning.startswith("warning: 6 flush/commit sites but no mapped model under the "
                              "current folder (taken as the project: no pyproject.toml"), warning
    assert "run flushguard from the project's top folder, or put a pyproject.toml there" in warning


def test_a_marked_project_without_models_names_its_marker(tmp_path: Path) -> None:
    project = unmarked_project(tmp_path / "p")
    (project / "app" / "services" / "setup.cfg").write_text("", encoding="utf-8")
    done = flushguard("check", "--no-cache", "app/services", cwd=project)
    (warning,) = warnings(done.stderr)
    assert "no mapped model under app/services (the project its setup.cfg marks)" in warning
    assert "[tool.flushguard] or --config FILE" in warning


def test_a_src_layout_is_named_as_python_imports_it(tmp_path: Path) -> None:
    absolute = PEOPLE.replace("from ..models.person import", "from app.models.person import")
    project = unmarked_project(tmp_path / "p", package_root="src", people=absolute)
    (project / "pyproject.toml").write_text("[project]\nname = 'p'\n", encoding="utf-8")
    done = flushguard("check", "--no-cache", cwd=project)
    assert warnings(done.stderr) == []
    assert len(findings(done.stdout)) == FINDINGS


def test_a_package_root_it_cannot_see_is_named_with_the_setting_that_fixes_it(
        tmp_path: Path) -> None:
    # A namespace package (lib/acme has no __init__.py) imported as `acme.app...`: nothing in
    # the tree says lib/ is on sys.path.
    project = unmarked_project(tmp_path / "p", package_root="lib/acme",
                               people=PEOPLE.replace("from ..models.person import",
                                                     "from acme.app.models.person import"))
    models = project / "lib/acme/app/models/person.py"
    models.write_text(MODELS.replace("from app.", "from acme.app."), encoding="utf-8")
    pyproject = project / "pyproject.toml"
    pyproject.write_text("[project]\nname = 'p'\n", encoding="utf-8")
    done = flushguard("check", "--no-cache", cwd=project)
    (warning,) = warnings(done.stderr)
    assert "6 of 6 flush/commit sites in application code are untracked" in warning
    assert "the code imports `acme`, which no module has under the package roots" in warning
    assert 'roots = ["lib"]` under [tool.flushguard] in pyproject.toml' in warning

    pyproject.write_text("[project]\nname = 'p'\n\n[tool.flushguard]\nroots = [\"lib\"]\n",
                         encoding="utf-8")
    done = flushguard("check", "--no-cache", cwd=project)
    assert warnings(done.stderr) == []
    assert len(findings(done.stdout)) == FINDINGS


def test_untracked_sites_in_tests_alone_are_not_warned_about(tmp_path: Path) -> None:
    project = unmarked_project(tmp_path / "p")
    (project / "tests").mkdir()
    (project / "tests" / "test_db.py").write_text(
        "async def test_rollback(session):\n    await session.rollback()\n"
        "async def test_commit(session):\n    await session.commit()\n", encoding="utf-8")
    done = flushguard("check", "--no-cache", ".", cwd=project)
    assert done.returncode == 1
    assert warnings(done.stderr) == []


@pytest.mark.parametrize("where,expected", [
    ("inside", "cwd"),       # no marker: the current folder
    ("outside", "folder"),   # no marker, and not under the current folder: the path's folder
    ("marked", "marked"),    # a marker above the path wins
])
def test_project_root(tmp_path: Path, where: str, expected: str) -> None:
    cwd = tmp_path / "cwd"
    target = (cwd if where != "outside" else tmp_path / "elsewhere") / "app" / "services"
    target.mkdir(parents=True)
    (target / "people.py").write_text("", encoding="utf-8")
    if where == "marked":
        (cwd / "app" / "pyproject.toml").write_text("", encoding="utf-8")
    found = engine.project_root([target / "people.py"], cwd)
    assert found == {"cwd": cwd, "folder": target, "marked": cwd / "app"}[expected].resolve()

"""The installed console script, run as a user runs it, on small projects made by each test."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

MODELS = textwrap.dedent(
    """\
    from datetime import datetime

    from sqlalchemy import func
    from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


    class Base(DeclarativeBase):
        pass


    class User(Base):
        __tablename__ = "users"

        id: Mapped[int] = mapped_column(primary_key=True)
        email: Mapped[str]
        created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    """
)

SERVICE = textwrap.dedent(
    """\
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.models import User


    async def register(session: AsyncSession, email: str) -> dict:
        user = User(email=email)
        session.add(user)
        await session.flush()
        return {"id": user.id, "joined": user.created_at}
    """
)


def flushguard(*args: str, cwd: Path, input: str | None = None) -> subprocess.CompletedProcess:
    executable = shutil.which("flushguard")
    command = [executable] if executable else [sys.executable, "-m", "codemods"]
    return subprocess.run(
        [*command, *args], cwd=cwd, capture_output=True, text=True, input=input, timeout=120
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "app").mkdir(parents=True)
    (root / "app" / "__init__.py").write_text("")
    (root / "app" / "models.py").write_text(MODELS)
    (root / "app" / "service.py").write_text(SERVICE)
    (root / "requirements.txt").write_text("sqlalchemy[asyncio]==2.0.36\naiomysql\n")
    return root


def test_check_reports_the_read_with_path_line_and_code_and_exits_1(project: Path) -> None:
    result = flushguard("check", ".", cwd=project)
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("app/service.py:10:38: FG001 `user.created_at`")
    assert "1 finding in 1 file, 1 fixable" in result.stderr


def test_check_is_clean_on_a_postgresql_project(project: Path) -> None:
    (project / "requirements.txt").write_text("sqlalchemy[asyncio]==2.0.36\nasyncpg\n")
    result = flushguard("check", ".", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_backend_option_overrides_detection(project: Path) -> None:
    result = flushguard("check", "--backend", "postgresql", ".", cwd=project)
    assert result.returncode == 0
    result = flushguard("check", "--backend", "unknown", ".", cwd=project)
    assert result.returncode == 1
    assert "[possible]" in result.stdout
    assert "set `backend" in result.stderr


def test_json_format_follows_the_spec_schema(project: Path) -> None:
    result = flushguard("check", "--format", "json", ".", cwd=project)
    document = json.loads(result.stdout)
    assert document["version"] == 1 and document["errors"] == []
    (finding,) = document["findings"]
    assert finding["path"] == "app/service.py"
    assert (finding["line"], finding["code"], finding["object"], finding["model"]) == (
        10, "FG001", "user", "User")
    assert finding["attributes"] == ["created_at"]
    assert finding["site"] == {"line": 9, "kind": "flush", "session": "session"}
    assert finding["fix"]["applicability"] == "safe"
    assert finding["fix"]["text"] == 'await session.refresh(user, ["created_at"])'


def test_diff_applies_with_git_apply_and_fix_writes_the_same(project: Path, tmp_path: Path) -> None:
    twin = tmp_path / "twin"
    shutil.copytree(project, twin)
    diff = flushguard("diff", ".", cwd=project)
    assert diff.returncode == 1
    assert diff.stdout.startswith("--- a/app/service.py\n+++ b/app/service.py\n")
    subprocess.run(["git", "init", "-q"], cwd=twin, check=True)
    subprocess.run(["git", "apply", "-"], cwd=twin, input=diff.stdout, text=True, check=True)
    fixed = flushguard("fix", ".", cwd=project)
    assert fixed.returncode == 0, fixed.stderr
    assert (project / "app" / "service.py").read_text() == (twin / "app" / "service.py").read_text()
    again = flushguard("fix", ".", cwd=project)
    assert again.returncode == 0 and "0 findings" in again.stderr


def test_noqa_on_the_read_or_the_flush_suppresses(project: Path) -> None:
    service = project / "app" / "service.py"
    service.write_text(SERVICE.replace("user.created_at}", "user.created_at}  # noqa: FG001"))
    assert flushguard("check", ".", cwd=project).returncode == 0
    service.write_text(SERVICE.replace("await session.flush()", "await session.flush()  # flushguard: ignore"))
    assert flushguard("check", ".", cwd=project).returncode == 0
    service.write_text(SERVICE.replace("user.created_at}", "user.created_at}  # noqa: FG003"))
    assert flushguard("check", ".", cwd=project).returncode == 1


def test_a_file_that_does_not_parse_is_reported_and_skipped(project: Path) -> None:
    (project / "app" / "broken.py").write_text("async def f(:\n    await session.flush()\n")
    result = flushguard("check", ".", cwd=project)
    assert result.returncode == 2
    assert "app/broken.py: error: cannot parse" in result.stderr
    assert "Traceback" not in result.stderr
    assert "app/service.py:10:38: FG001" in result.stdout


def test_unknown_config_key_is_an_error_naming_it(project: Path) -> None:
    (project / "pyproject.toml").write_text("[tool.flushguard]\nbakend = 'mysql'\n")
    result = flushguard("check", ".", cwd=project)
    assert result.returncode == 2
    assert "bakend" in result.stderr and "Traceback" not in result.stderr


def test_python_dash_m_codemods_is_the_same_cli(project: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "codemods", "check", "."], cwd=project,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "FG001" in result.stdout


def test_sync_code_and_other_flushes_are_left_alone(project: Path) -> None:
    (project / "app" / "service.py").write_text(textwrap.dedent(
        """\
        from sqlalchemy.orm import Session

        from app.models import User


        def register(session: Session, email: str) -> dict:
            user = User(email=email)
            session.add(user)
            session.flush()
            return {"joined": user.created_at}


        async def write(writer, user: User) -> None:
            await writer.flush()
            print(user.created_at)
        """
    ))
    result = flushguard("check", ".", cwd=project)
    assert result.returncode == 0, result.stdout


def test_a_run_with_no_candidate_file_does_not_import_libcst(tmp_path: Path) -> None:
    """A run where no file mentions a flush or a model does not pay for LibCST at all."""
    (tmp_path / "requirements.txt").write_text("asyncpg\n")
    (tmp_path / "plain.py").write_text("def add(a, b):\n    return a + b\n")
    probe = (
        "import sys\n"
        "from codemods.cli import main\n"
        "try:\n"
        "    main(['check', '.'])\n"
        "except SystemExit as exit:\n"
        "    code = exit.code\n"
        "print('libcst' in sys.modules, code)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.stdout.strip() == "False 0", result.stdout + result.stderr


def test_a_run_with_models_but_no_flush_does_not_import_libcst(tmp_path: Path) -> None:
    """Models, schemas and session factories are read without LibCST: it only writes fixes."""
    (tmp_path / "requirements.txt").write_text("asyncpg\n")
    (tmp_path / "models.py").write_text(
        "from pydantic import BaseModel\n"
        "from sqlalchemy.ext.asyncio import async_sessionmaker\n"
        "from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column\n"
        "Session = async_sessionmaker(engine, expire_on_commit=False)\n"
        "class Base(DeclarativeBase):\n"
        "    pass\n"
        "class User(Base):\n"
        "    __tablename__ = 'users'\n"
        "    id: Mapped[int] = mapped_column(primary_key=True)\n"
        "class UserOut(BaseModel):\n"
        "    id: int\n"
    )
    probe = (
        "import sys\n"
        "from codemods.cli import main\n"
        "try:\n"
        "    main(['check', '.'])\n"
        "except SystemExit as exit:\n"
        "    code = exit.code\n"
        "print('libcst' in sys.modules, code)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.stdout.strip() == "False 0", result.stdout + result.stderr


def test_worker_processes_give_the_same_output_as_one_process(project: Path) -> None:
    """--jobs: files are analysed in a process pool; the result must not depend on it."""
    for number in range(24):  # enough files for the pool to be used
        (project / "app" / f"service_{number:02}.py").write_text(SERVICE)
    one = flushguard("check", "--jobs", "1", "--format", "json", ".", cwd=project)
    two = flushguard("check", "--jobs", "2", "--format", "json", ".", cwd=project)
    assert one.returncode == two.returncode == 1
    assert json.loads(one.stdout)["findings"] == json.loads(two.stdout)["findings"]
    assert len(json.loads(two.stdout)["findings"]) == 25
    diff_one = flushguard("diff", "--jobs", "1", ".", cwd=project).stdout
    assert diff_one == flushguard("diff", "--jobs", "2", ".", cwd=project).stdout

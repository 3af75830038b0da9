"""Project detection: each signal, how signals rank, and what never counts."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path, PurePath

import pytest

from codemods.project import ProjectFacts, detect_project, is_test_path

REPO = Path(__file__).resolve().parents[1]


def make(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


ALEMBIC_MYSQL = """
[alembic]
script_location = migrations
sqlalchemy.url = mysql+aiomysql://app:s3cret@db:3306/app
"""

DB_MODULE = """
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

engine = create_async_engine(settings.DATABASE_URL)
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)
"""


# --------------------------------------------------------------------------
# Backend: URLs
# --------------------------------------------------------------------------


def test_alembic_url_names_the_backend_without_credentials(tmp_path: Path) -> None:
    facts = detect_project(make(tmp_path, {"alembic.ini": ALEMBIC_MYSQL}))
    assert facts.backend == "mysql"
    assert facts.backend_source == "alembic.ini:3 sqlalchemy.url = mysql+aiomysql://…"
    assert "s3cret" not in facts.backend_source


def test_alembic_template_placeholder_url_is_not_a_signal(tmp_path: Path) -> None:
    make(
        tmp_path,
        {"alembic.ini": "[alembic]\nsqlalchemy.url = driver://user:pass@localhost/dbname\n"},
    )
    facts = detect_project(tmp_path)
    assert (facts.backend, facts.backend_source) == ("unknown", "not detected")


def test_nothing_found_is_unknown_and_not_detected(tmp_path: Path) -> None:
    facts = detect_project(make(tmp_path, {"app/main.py": "print('hello')\n"}))
    assert facts == ProjectFacts(session_factories=())
    assert (facts.backend, facts.backend_source) == ("unknown", "not detected")


def test_url_in_python_settings_module(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            "app/core/config.py": """
                class Settings(BaseSettings):
                    DATABASE_URL: str = "postgresql+asyncpg://postgres:postgres@localhost/app"
            """
        },
    )
    facts = detect_project(tmp_path)
    assert facts.backend == "postgresql"
    assert facts.backend_source.startswith(
        "app/core/config.py:2 DATABASE_URL = postgresql+asyncpg://"
    )


@pytest.mark.parametrize(
    "name, text, backend",
    [
        (".env", "DATABASE_URL=mysql+asyncmy://root:root@db/app\n", "mysql"),
        (".env.example", "export DATABASE_URL=postgres://user@localhost/app\n", "postgresql"),
        ("config/settings.yaml", "database:\n  url: mysql+aiomysql://u:p@db/app\n", "mysql"),
        (
            "docker-compose.yml",
            "services:\n  api:\n    environment:\n      - DATABASE_URL=postgresql+asyncpg://u:p@db/app\n",
            "postgresql",
        ),
        ("config.toml", '[database]\nurl = "mysql+aiomysql://u:p@db/app"\n', "mysql"),
    ],
)
def test_url_in_configuration_files(tmp_path: Path, name: str, text: str, backend: str) -> None:
    facts = detect_project(make(tmp_path, {name: text}))
    assert facts.backend == backend
    assert facts.backend_source.startswith(f"{name}:")


def test_mariadb_url_is_mariadb(tmp_path: Path) -> None:
    facts = detect_project(make(tmp_path, {".env": "DATABASE_URL=mariadb+asyncmy://u:p@db/app\n"}))
    assert facts.backend == "mariadb"


def test_scheme_literal_and_pydantic_dsn_types_count_as_urls(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            "app/config.py": """
                def database_url(self):
                    return PostgresDsn.build(scheme="postgresql+asyncpg", host=self.HOST)
            """
        },
    )
    assert detect_project(tmp_path).backend == "postgresql"
    make(tmp_path / "other", {"app/config.py": "class Settings:\n    DATABASE_URL: MySQLDsn\n"})
    facts = detect_project(tmp_path / "other")
    assert (facts.backend, facts.backend_source) == (
        "mysql",
        "app/config.py:2 DATABASE_URL: MySQLDsn",
    )


def test_bare_dialect_name_is_not_a_url(tmp_path: Path) -> None:
    # ``if engine.dialect.name == "sqlite"`` is compatibility code, not a configuration.
    make(tmp_path, {"app/db.py": 'if engine.dialect.name == "sqlite":\n    pass\n'})
    assert detect_project(tmp_path).backend == "unknown"


def test_commented_out_urls_are_ignored(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            ".env.example": "# DATABASE_URL=sqlite+aiosqlite:///./dev.db\nDATABASE_URL=mysql+aiomysql://u:p@db/app\n",
            "app/db.py": 'URL = "mysql+aiomysql://u:p@db/app"  # was "postgresql+asyncpg://..."\n',
            "alembic.ini": "[alembic]\n; sqlalchemy.url = postgresql://u@h/db\n",
        },
    )
    facts = detect_project(tmp_path)
    assert facts.backend == "mysql"
    assert "SQLite" not in facts.backend_source


# --------------------------------------------------------------------------
# Backend: what never counts
# --------------------------------------------------------------------------


def test_test_suites_do_not_name_the_backend(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            "tests/conftest.py": 'TEST_URL = "sqlite+aiosqlite:///:memory:"\n',
            "app/test_utils.py": 'URL = "sqlite+aiosqlite://"\n',
            "app/tests/settings.py": 'URL = "mysql+aiomysql://u:p@db/test"\n',
            ".env.test": "DATABASE_URL=sqlite+aiosqlite:///./test.db\n",
            "docker-compose.test.yml": "environment:\n  - DATABASE_URL=mysql+aiomysql://u:p@db/t\n",
            "pytest.ini": "[pytest]\nenv = DATABASE_URL=sqlite+aiosqlite://\n",
            "requirements.txt": "asyncpg==0.30.0\n",
        },
    )
    facts = detect_project(tmp_path)
    assert (facts.backend, facts.backend_source) == (
        "postgresql",
        "requirements.txt:1 asyncpg==0.30.0",
    )


def test_only_test_urls_leaves_the_backend_unknown(tmp_path: Path) -> None:
    facts = detect_project(make(tmp_path, {"tests/conftest.py": 'URL = "sqlite+aiosqlite://"\n'}))
    assert facts.backend == "unknown"


def test_pytest_section_of_pyproject_is_not_a_signal(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            "pyproject.toml": """
                [project]
                name = "svc"
                dependencies = ["aiomysql>=0.2"]

                [tool.pytest.ini_options]
                env = ["DATABASE_URL=sqlite+aiosqlite:///:memory:"]
            """
        },
    )
    facts = detect_project(tmp_path)
    assert facts.backend == "mysql"
    assert "SQLite" not in facts.backend_source


def test_vendored_and_virtualenv_folders_are_skipped(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            ".venv/lib/python3.12/site-packages/x/db.py": 'U = "mysql+aiomysql://x"\n',
            "node_modules/pkg/config.yaml": "url: mysql+aiomysql://x\n",
            "env/pyvenv.cfg": "home = /usr/bin\n",
            "env/lib/db.py": 'U = "mysql+aiomysql://x"\n',
            "build/lib/app/db.py": 'U = "mysql+aiomysql://x"\n',
            "docs/conf.py": 'U = "mysql+aiomysql://x"\n',
            "examples/app.py": 'U = "mysql+aiomysql://x"\n',
            "app/db.py": 'U = "postgresql+asyncpg://u@h/db"\n',
        },
    )
    assert detect_project(tmp_path).backend == "postgresql"


def test_dependency_files_under_tests_do_not_count(tmp_path: Path) -> None:
    make(tmp_path, {"tests/requirements.txt": "aiomysql\nsqlalchemy==1.4.54\n"})
    facts = detect_project(tmp_path)
    assert (facts.backend, facts.sqlalchemy) == ("unknown", "2")


@pytest.mark.parametrize(
    "path, expected",
    [
        ("tests/test_users.py", True),
        ("app/tests/factories.py", True),
        ("conftest.py", True),
        ("app/users_test.py", True),
        (".env.test", True),
        ("docker-compose.test.yml", True),
        ("integration_tests/db.py", True),
        ("app/testimonials.py", False),
        ("app/contest.py", False),
        ("app/db.py", False),
        (".env", False),
    ],
)
def test_is_test_path(path: str, expected: bool) -> None:
    assert is_test_path(PurePath(path)) is expected


# --------------------------------------------------------------------------
# Backend: ranking and conflicts
# --------------------------------------------------------------------------


def test_url_beats_driver_dependency(tmp_path: Path) -> None:
    make(tmp_path, {"alembic.ini": ALEMBIC_MYSQL, "requirements.txt": "asyncpg\n"})
    assert detect_project(tmp_path).backend == "mysql"


def test_mysql_and_returning_backend_urls_disagree_to_unknown(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            "alembic.ini": ALEMBIC_MYSQL,
            "docker-compose.yml": "environment:\n  DATABASE_URL: postgresql+asyncpg://u:p@db/app\n",
        },
    )
    facts = detect_project(tmp_path)
    assert facts.backend == "unknown"
    assert facts.backend_source.startswith("conflicting signals:")
    assert "mysql (alembic.ini:3" in facts.backend_source
    assert "postgresql (docker-compose.yml:2" in facts.backend_source


def test_sqlite_beside_postgresql_is_taken_for_the_test_database(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            "app/config.py": 'DATABASE_URL = os.getenv("DATABASE_URL", "sqlite+aiosqlite:///./dev.db")\n',
            "requirements.txt": "fastapi\nasyncpg>=0.29\naiosqlite\n",
        },
    )
    facts = detect_project(tmp_path)
    assert facts.backend == "postgresql"
    assert facts.backend_source.startswith("requirements.txt:2 asyncpg>=0.29")
    assert "SQLite (app/config.py:1" in facts.backend_source


def test_sqlite_main_dependency_is_not_outvoted_by_an_optional_driver(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            "pyproject.toml": """
                [project]
                name = "notes"
                dependencies = ["sqlalchemy[asyncio]>=2", "aiosqlite"]

                [project.optional-dependencies]
                postgres = ["asyncpg"]
            """
        },
    )
    assert detect_project(tmp_path).backend == "sqlite"


def test_optional_extras_for_two_backends_are_unknown(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            "pyproject.toml": """
                [project]
                name = "lib"
                dependencies = ["sqlalchemy>=2"]

                [project.optional-dependencies]
                postgres = ["asyncpg"]
                mysql = ["aiomysql"]
            """
        },
    )
    facts = detect_project(tmp_path)
    assert facts.backend == "unknown"
    assert "postgresql" in facts.backend_source and "mysql" in facts.backend_source


def test_dev_group_driver_yields_to_main_dependency(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            "pyproject.toml": """
                [tool.poetry.dependencies]
                python = "^3.11"
                asyncmy = "^0.2"

                [tool.poetry.group.dev.dependencies]
                asyncpg = "*"
            """
        },
    )
    facts = detect_project(tmp_path)
    assert facts.backend == "mysql"
    assert facts.backend_source == 'pyproject.toml [tool.poetry.dependencies] asyncmy = "^0.2"'


@pytest.mark.parametrize(
    "files, backend",
    [
        ({"requirements.txt": "asyncpg==0.30.0\n"}, "postgresql"),
        ({"requirements/base.txt": "psycopg[binary]>=3.1\n"}, "postgresql"),
        ({"requirements.txt": "SQLAlchemy[asyncio,postgresql_asyncpg]==2.0.36\n"}, "postgresql"),
        ({"pyproject.toml": '[project]\nname="x"\ndependencies = ["aiomysql>=0.2"]\n'}, "mysql"),
        ({"pyproject.toml": '[tool.poetry.dependencies]\nPyMySQL = {version = "^1.1"}\n'}, "mysql"),
        (
            {"setup.cfg": "[options]\ninstall_requires =\n    mysqlclient\n    sqlalchemy\n"},
            "mysql",
        ),
        ({"setup.py": 'setup(name="x", install_requires=["asyncpg>=0.27"])\n'}, "postgresql"),
        ({"Pipfile": '[packages]\naiosqlite = "*"\n'}, "sqlite"),
        ({"poetry.lock": '[[package]]\nname = "asyncmy"\nversion = "0.2.9"\n'}, "mysql"),
        ({"uv.lock": '[[package]]\nname = "asyncpg"\nversion = "0.30.0"\n'}, "postgresql"),
    ],
)
def test_driver_dependency_names_the_backend(
    tmp_path: Path, files: dict[str, str], backend: str
) -> None:
    assert detect_project(make(tmp_path, files)).backend == backend


def test_mariadb_image_turns_a_mysql_driver_into_mariadb(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            "requirements.txt": "asyncmy\n",
            "docker-compose.yml": "services:\n  db:\n    image: mariadb:10.11\n",
        },
    )
    facts = detect_project(tmp_path)
    assert facts.backend == "mariadb"
    assert "docker-compose.yml:3 image mariadb:10.11" in facts.backend_source


def test_mariadb_before_10_5_stays_mysql(tmp_path: Path) -> None:
    # MariaDB gained INSERT..RETURNING in 10.5; older servers behave like MySQL.
    make(
        tmp_path,
        {
            "requirements.txt": "asyncmy\n",
            "compose.yaml": "services:\n  db:\n    image: mariadb:10.4\n",
        },
    )
    assert detect_project(tmp_path).backend == "mysql"


# --------------------------------------------------------------------------
# SQLAlchemy version
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "requirement, major",
    [
        ("sqlalchemy==1.4.46", "1.4"),
        ("SQLAlchemy>=1.4,<2.0", "1.4"),
        ("sqlalchemy[asyncio]~=1.4.46", "1.4"),
        ("sqlalchemy~=1.4", "1.4"),
        ("sqlalchemy==1.4.*", "1.4"),
        ("sqlalchemy<2", "1.4"),
        ("sqlalchemy>=1.4", "2"),
        ("sqlalchemy[asyncio]==2.0.36", "2"),
        ("sqlalchemy>=2.0,<2.1", "2"),
        ("sqlalchemy<2.1", "2"),
        ("SQLAlchemy[asyncio] >= 1.4.0, < 2.0.0 ; python_version >= '3.8'", "1.4"),
    ],
)
def test_requirement_specifier_resolves_major_version(
    tmp_path: Path, requirement: str, major: str
) -> None:
    facts = detect_project(make(tmp_path, {"requirements.txt": f"fastapi\n{requirement}\n"}))
    assert facts.sqlalchemy == major
    assert facts.sqlalchemy_source.startswith("requirements.txt:2 ")


@pytest.mark.parametrize(
    "value, major",
    [
        ('"^1.4"', "1.4"),
        ('"~1.4"', "1.4"),
        ('"1.4.52"', "1.4"),
        ('{version = "^1.4", extras = ["asyncio"]}', "1.4"),
        ('"^2.0"', "2"),
        ('">=1.4 <2.0"', "1.4"),
        ('"^1.4 || ^2.0"', "2"),
    ],
)
def test_poetry_constraint_resolves_major_version(tmp_path: Path, value: str, major: str) -> None:
    make(
        tmp_path,
        {"pyproject.toml": f'[tool.poetry.dependencies]\npython = "^3.10"\nsqlalchemy = {value}\n'},
    )
    facts = detect_project(tmp_path)
    assert facts.sqlalchemy == major
    assert facts.sqlalchemy_source.startswith(
        "pyproject.toml [tool.poetry.dependencies] sqlalchemy"
    )


def test_no_pin_defaults_to_2(tmp_path: Path) -> None:
    facts = detect_project(make(tmp_path, {"requirements.txt": "sqlalchemy\nasyncpg\n"}))
    assert (facts.sqlalchemy, facts.sqlalchemy_source) == ("2", "default (no version pin found)")


@pytest.mark.parametrize("lock", ["poetry.lock", "uv.lock", "pdm.lock"])
def test_exact_lock_version_beats_a_range(tmp_path: Path, lock: str) -> None:
    make(
        tmp_path,
        {
            "pyproject.toml": '[project]\nname = "svc"\ndependencies = ["sqlalchemy[asyncio]>=1.4"]\n',
            lock: """
                [[package]]
                name = "greenlet"
                version = "3.0.3"

                [[package]]
                name = "sqlalchemy"
                version = "1.4.54"
                description = "Database Abstraction Library"
            """,
        },
    )
    facts = detect_project(tmp_path)
    assert facts.sqlalchemy == "1.4"
    assert facts.sqlalchemy_source == f"{lock}: sqlalchemy 1.4.54"


def test_lock_version_2_beats_a_ceiling_below_2(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            "requirements.in": "sqlalchemy<2\n",
            "uv.lock": '[[package]]\nname = "sqlalchemy"\nversion = "2.0.36"\n',
        },
    )
    assert detect_project(tmp_path).sqlalchemy == "2"


def test_pipfile_lock_version(tmp_path: Path) -> None:
    make(
        tmp_path,
        {"Pipfile.lock": '{"default": {"sqlalchemy": {"version": "==1.4.49"}}, "develop": {}}'},
    )
    facts = detect_project(tmp_path)
    assert (facts.sqlalchemy, facts.sqlalchemy_source) == (
        "1.4",
        "Pipfile.lock: sqlalchemy ==1.4.49",
    )


def test_any_ceiling_below_2_among_ranges_keeps_1_4(tmp_path: Path) -> None:
    # Ranges intersect: pyproject says >=1.4, the constraints file caps it below 2.0.
    make(
        tmp_path,
        {
            "pyproject.toml": '[project]\nname = "svc"\ndependencies = ["sqlalchemy>=1.4"]\n',
            "requirements/constraints.txt": "sqlalchemy<2.0\n",
        },
    )
    facts = detect_project(tmp_path)
    assert facts.sqlalchemy == "1.4"
    assert facts.sqlalchemy_source == "requirements/constraints.txt:1 sqlalchemy<2.0"


# --------------------------------------------------------------------------
# expire_on_commit
# --------------------------------------------------------------------------


def test_factory_with_expire_on_commit_false(tmp_path: Path) -> None:
    facts = detect_project(make(tmp_path, {"app/db.py": DB_MODULE}))
    assert facts.expire_on_commit is False
    assert facts.expire_on_commit_source == "app/db.py:4 async_sessionmaker(expire_on_commit=False)"
    assert facts.session_factories[0].target == "SessionLocal"


def test_sessionmaker_with_async_session_class(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            "app/database.py": """
                from sqlalchemy.ext.asyncio import AsyncSession
                from sqlalchemy.orm import sessionmaker

                async_session = sessionmaker(
                    engine,
                    class_=AsyncSession,
                    expire_on_commit=False,
                )
            """
        },
    )
    facts = detect_project(tmp_path)
    assert facts.expire_on_commit is False
    assert facts.expire_on_commit_source == "app/database.py:4 sessionmaker(expire_on_commit=False)"


def test_sync_sessionmaker_is_not_a_session_factory(tmp_path: Path) -> None:
    make(
        tmp_path,
        {"scripts/sync_db.py": "Session = sessionmaker(bind=engine, expire_on_commit=False)\n"},
    )
    facts = detect_project(tmp_path)
    assert (facts.expire_on_commit, facts.expire_on_commit_source) == (True, "SQLAlchemy default")


def test_async_session_constructed_directly(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            "app/deps.py": "async def get_db():\n    async with AsyncSession(engine, expire_on_commit=False) as s:\n        yield s\n"
        },
    )
    facts = detect_project(tmp_path)
    assert facts.expire_on_commit is False
    assert facts.expire_on_commit_source == "app/deps.py:2 AsyncSession(expire_on_commit=False)"


def test_factory_without_the_keyword_keeps_the_default(tmp_path: Path) -> None:
    facts = detect_project(
        make(tmp_path, {"app/db.py": "SessionLocal = async_sessionmaker(engine)\n"})
    )
    assert facts.expire_on_commit is True
    assert facts.expire_on_commit_source.startswith("SQLAlchemy default")


def test_factories_that_disagree_give_the_default(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            "app/db.py": DB_MODULE,
            "app/worker.py": "WorkerSession = async_sessionmaker(engine, expire_on_commit=True)\n",
        },
    )
    facts = detect_project(tmp_path)
    assert facts.expire_on_commit is True
    assert facts.expire_on_commit_source.startswith("session factories disagree: app/db.py:4")
    assert (
        "app/worker.py:1 async_sessionmaker(expire_on_commit=True)" in facts.expire_on_commit_source
    )
    assert [f.expire_on_commit for f in facts.session_factories] == [False, True]


def test_calling_a_factory_instance_named_like_the_class_is_not_a_factory(tmp_path: Path) -> None:
    """`async with async_sessionmaker() as session` calls a factory held in a variable (seen in
    a real health check); it must not outvote the project's real factory."""
    make(
        tmp_path,
        {
            "app/db.py": DB_MODULE,
            "app/health.py": (
                "async def ping(request):\n"
                "    async_sessionmaker = request.state.async_sessionmaker\n"
                "    async with async_sessionmaker() as session:\n"
                "        await session.execute(text('SELECT 1'))\n"
            ),
        },
    )
    facts = detect_project(tmp_path)
    assert facts.expire_on_commit is False
    assert len(facts.session_factories) == 1


def test_non_literal_expire_on_commit_is_not_trusted(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            "app/db.py": DB_MODULE,
            "app/other.py": "S = async_sessionmaker(engine, expire_on_commit=settings.EXPIRE)\n",
        },
    )
    facts = detect_project(tmp_path)
    assert facts.expire_on_commit is True
    assert "<not a literal>" in facts.expire_on_commit_source


def test_test_suite_factories_do_not_count(tmp_path: Path) -> None:
    make(
        tmp_path,
        {"tests/conftest.py": "TestSession = async_sessionmaker(engine, expire_on_commit=False)\n"},
    )
    facts = detect_project(tmp_path)
    assert (facts.expire_on_commit, facts.session_factories) == (True, ())


def test_factory_in_a_string_or_comment_is_not_a_call(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            "app/db.py": '# async_sessionmaker(engine, expire_on_commit=False)\nDOC = "AsyncSession(expire_on_commit=False)"\n'
        },
    )
    assert detect_project(tmp_path).expire_on_commit is True


def test_unparsable_module_is_skipped(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            "app/broken.py": "S = async_sessionmaker(engine, expire_on_commit=False\n",
            "app/db.py": DB_MODULE,
        },
    )
    facts = detect_project(tmp_path)
    assert facts.expire_on_commit is False
    assert len(facts.session_factories) == 1


def test_factory_bound_in_a_class_body_counts(tmp_path: Path) -> None:
    # No method of the class calls a factory: the class attribute is the factory.
    make(
        tmp_path,
        {
            "app/db.py": (
                "class Database:\n"
                "    Session = async_sessionmaker(engine, expire_on_commit=False)\n"
                "\n"
                "    def url(self) -> str:\n"
                "        return 'postgresql+asyncpg://db/app'\n"
            ),
        },
    )
    facts = detect_project(tmp_path)
    assert facts.expire_on_commit is False
    assert facts.expire_on_commit_source == "app/db.py:2 async_sessionmaker(expire_on_commit=False)"
    assert facts.session_factories[0].target == "Session"


def test_factory_in_a_module_with_a_byte_order_mark(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "db.py").write_bytes(b"\xef\xbb\xbf" + DB_MODULE.lstrip("\n").encode())
    assert detect_project(tmp_path).expire_on_commit is False


def test_libcst_is_not_imported_to_read_session_factories(tmp_path: Path) -> None:
    make(tmp_path, {"app/db.py": DB_MODULE})
    code = (
        "import sys; from codemods.project import detect_project; "
        f"facts = detect_project({str(tmp_path)!r}); "
        "print(facts.expire_on_commit, 'libcst' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False False"


def test_libcst_is_not_imported_when_no_module_calls_a_session_factory(tmp_path: Path) -> None:
    # ``AsyncSession`` as a type annotation is in most modules of an async project; only a
    # factory call is worth a parse.
    make(
        tmp_path,
        {
            "app/users.py": (
                "from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker\n"
                "class UnitOfWork(AsyncSession):\n"
                "    factory: async_sessionmaker[AsyncSession]\n"
                "async def create(db: AsyncSession) -> None:\n"
                "    await db.refresh(user)\n"
            ),
            "requirements.txt": "asyncpg\n",
        },
    )
    code = (
        "import sys; from codemods.project import detect_project; "
        f"detect_project({str(tmp_path)!r}); print('libcst' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------
# refresh() style
# --------------------------------------------------------------------------


def test_keyword_refresh_calls_choose_keyword_style(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            "app/users.py": """
                async def create(db, user):
                    await db.flush()
                    await db.refresh(
                        user,  # the new row
                        attribute_names=["created_at", "roles"],
                    )
                    await db.refresh(user)
            """
        },
    )
    facts = detect_project(tmp_path)
    assert facts.refresh_keyword is True
    assert facts.refresh_keyword_source.startswith("app/users.py:3 ")


def test_any_positional_list_chooses_positional_style(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            "app/a.py": 'await db.refresh(user, attribute_names=["id"])\n',
            "app/b.py": 'await session.refresh(org, ["created_at"])\n',
        },
    )
    facts = detect_project(tmp_path)
    assert facts.refresh_keyword is False
    assert facts.refresh_keyword_source.startswith("app/b.py:1 ")


def test_other_refresh_methods_do_not_decide_the_style(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            "app/auth.py": "credentials.refresh(request)\ncache.refresh(key, value)\n",
            "app/users.py": 'await db.refresh(user, attribute_names=["id"])\n',
        },
    )
    assert detect_project(tmp_path).refresh_keyword is True


def test_no_refresh_with_names_means_positional_default(tmp_path: Path) -> None:
    facts = detect_project(make(tmp_path, {"app/users.py": "await db.refresh(user)\n"}))
    assert facts.refresh_keyword is False


# --------------------------------------------------------------------------
# python_files
# --------------------------------------------------------------------------


def test_python_files_replace_the_walk_for_python_sources(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            "app/db.py": DB_MODULE,
            "generated/db.py": "S = async_sessionmaker(engine, expire_on_commit=True)\n",
            "requirements.txt": "aiomysql\n",
        },
    )
    facts = detect_project(tmp_path, python_files=[tmp_path / "app" / "db.py"])
    assert facts.expire_on_commit is False
    assert facts.expire_on_commit_source == "app/db.py:4 async_sessionmaker(expire_on_commit=False)"
    # Configuration and dependency files are still found by walking the root.
    assert facts.backend == "mysql"


def test_snapshot_projects_are_detected_as_their_names_say() -> None:
    """Cross-check against the repository's snapshot cases: ``*_mysql`` cases are MySQL,
    ``*_sqlalchemy14`` cases are 1.4, ``*_postgresql`` cases are PostgreSQL."""
    cases = sorted((REPO / "snapshots").glob("*/input"))
    if not cases:
        pytest.skip("no snapshot cases")
    for case in cases:
        name = case.parent.name
        facts = detect_project(case)
        if name.endswith("_mysql"):
            assert facts.backend == "mysql", name
        if name.endswith("_postgresql"):
            assert facts.backend == "postgresql", name
        if name.endswith("_sqlalchemy14"):
            assert facts.sqlalchemy == "1.4", name
        if name.endswith("_unknown_backend"):
            assert facts.backend == "unknown", name


def test_a_url_in_a_docstring_is_documentation_not_the_backend(tmp_path: Path) -> None:
    """Seen on a real project: an integration's docstring lists the databases it accepts."""
    make(
        tmp_path,
        {
            "app/db.py": 'DATABASE_URL = "postgresql+asyncpg://app@db/app"\n',
            "app/integrations/sql.py": (
                'def connect(url):\n'
                '    """Connect to a user database.\n\n'
                '    - MySQL: mysql+pymysql://, mysql+aiomysql://\n'
                '    """\n'
            ),
        },
    )
    facts = detect_project(tmp_path)
    assert facts.backend == "postgresql", facts.backend_source


# --------------------------------------------------------------------------
# the application's settings win over scripts, benchmarks and other packages
# --------------------------------------------------------------------------

PYPROJECT_BOTH_DRIVERS = """\
[project]
name = "orchestrator"
dependencies = ["sqlalchemy[asyncio]>=2.0", "aiosqlite>=0.17", "asyncpg>=0.23"]
"""


def test_the_application_s_default_sqlite_is_the_backend(tmp_path: Path) -> None:
    # prefect's shape: SQLite by default, PostgreSQL supported; a load test names PostgreSQL.
    root = make(tmp_path, {
        "pyproject.toml": PYPROJECT_BOTH_DRIVERS,
        "src/orchestrator/__init__.py": "",
        "src/orchestrator/settings.py":
            'DEFAULT_URL = "sqlite+aiosqlite:///~/.orchestrator/db.sqlite"\n',
        "load_testing/track.py": 'URL = "postgresql://bench@localhost/bench"\n',
    })
    facts = detect_project(root)
    assert facts.backend == "sqlite"
    assert facts.backend_source.startswith(
        "src/orchestrator/settings.py:1 DEFAULT_URL = sqlite+aiosqlite://… (the application's "
        "default database; postgresql is supported too: pyproject.toml")


def test_the_application_s_default_sqlite_yields_to_a_mysql_driver(tmp_path: Path) -> None:
    root = make(tmp_path, {
        "requirements.txt": "sqlalchemy[asyncio]==2.0.36\naiomysql==0.2.0\n",
        "app/__init__.py": "",
        "app/config.py": 'DATABASE_URL = "sqlite+aiosqlite:///./dev.db"\n',
    })
    assert detect_project(root).backend == "mysql"


def test_a_table_of_drivers_names_no_backend(tmp_path: Path) -> None:
    # fief's shape: every backend the code supports, in one mapping; alembic.ini says which.
    root = make(tmp_path, {
        "alembic.ini": "[alembic]\nsqlalchemy.url = postgresql+asyncpg://u@h/db\n",
        "auth/__init__.py": "",
        "auth/db_types.py": textwrap.dedent("""\
            ASYNC_DRIVERS = {
                "POSTGRESQL": "postgresql+asyncpg",
                "MYSQL": "mysql+aiomysql",
                "SQLITE": "sqlite+aiosqlite",
            }
        """),
        "auth/settings.py": 'examples = "mysql://user:pass@host/db"\n',
    })
    facts = detect_project(root)
    assert (facts.backend, facts.backend_source) == (
        "postgresql", "alembic.ini:2 sqlalchemy.url = postgresql+asyncpg://…")


def test_a_script_s_session_factory_does_not_outvote_the_application_s(tmp_path: Path) -> None:
    root = make(tmp_path, {
        "app/__init__.py": "",
        "app/db.py": "from sqlalchemy.ext.asyncio import async_sessionmaker\n"
                     "Session = async_sessionmaker(expire_on_commit=False)\n",
        "scripts/backfill.py": "from sqlalchemy.ext.asyncio import async_sessionmaker\n"
                               "Session = async_sessionmaker(bind=None)\n",
    })
    facts = detect_project(root)
    assert facts.expire_on_commit is False
    assert facts.expire_on_commit_source == (
        "app/db.py:2 async_sessionmaker(expire_on_commit=False); the application's, not "
        "scripts/backfill.py:2 async_sessionmaker() without expire_on_commit (default True)")


def test_a_factory_in_a_file_no_parser_reads_is_found_in_its_text(tmp_path: Path) -> None:
    root = make(tmp_path, {
        "app/__init__.py": "",
        "app/db.py": textwrap.dedent("""\
            from sqlalchemy.ext.asyncio import async_sessionmaker
            type Maker = async_sessionmaker
            def create(engine) -> Maker:
                return async_sessionmaker(engine, expire_on_commit=False)  # the only one
            this is not python (
        """),
    })
    facts = detect_project(root)
    assert (facts.expire_on_commit, facts.expire_on_commit_source) == (
        False, "app/db.py:4 async_sessionmaker(expire_on_commit=False)")


def test_advanced_alchemy_s_session_config_is_a_factory(tmp_path: Path) -> None:
    root = make(tmp_path, {
        "app/__init__.py": "",
        "app/settings.py": textwrap.dedent("""\
            from advanced_alchemy.extensions.litestar import AsyncSessionConfig
            session_config = AsyncSessionConfig(expire_on_commit=False)
        """),
    })
    assert detect_project(root).expire_on_commit is False


def test_every_factory_and_the_dependencies_that_yield_its_sessions_are_facts(
        tmp_path: Path) -> None:
    from codemods.settings import build_settings
    from codemods.types import SessionDependencyFacts

    root = make(tmp_path, {
        "src/app/__init__.py": "",
        "src/app/db.py": textwrap.dedent("""\
            from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
            engine = create_async_engine("postgresql+asyncpg://app@db/app")
            SessionLocal = async_sessionmaker(engine)
            KeepLoaded = async_sessionmaker(engine, expire_on_commit=False)
        """),
        "src/app/deps.py": textwrap.dedent("""\
            from app.db import SessionLocal
            from .db import KeepLoaded

            async def get_db():
                async with SessionLocal() as session:
                    yield session

            async def get_reader():
                async with KeepLoaded.begin() as session:
                    yield session

            async def not_a_factory(factory):
                async with factory() as session:
                    yield session
        """),
    })
    settings = build_settings(root)
    assert [(f.qualname, f.expire_on_commit) for f in settings.session_factories] == [
        ("app.db.SessionLocal", True), ("app.db.KeepLoaded", False)]
    assert settings.session_dependencies == (
        SessionDependencyFacts("app.deps.get_db", "app.db.SessionLocal"),
        SessionDependencyFacts("app.deps.get_reader", "app.db.KeepLoaded"),
    )

"""Configuration: finding and validating [tool.flushguard], and the precedence of settings."""

from __future__ import annotations

import pickle
import textwrap
from pathlib import Path

import pytest

from codemods import settings as settings_module
from codemods.project import ProjectFacts
from codemods.settings import (
    CONFIG_KEYS,
    ConfigError,
    build_settings,
    find_config,
    load_config,
)
from codemods.types import Settings


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def config_file(tmp_path: Path, body: str) -> Path:
    return write(
        tmp_path / "pyproject.toml",
        '[project]\nname = "svc"\n\n[tool.flushguard]\n' + textwrap.dedent(body),
    )


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # Messages name the file relative to the current folder, as the user would type it.
    monkeypatch.chdir(tmp_path)
    return tmp_path


FACTS = ProjectFacts(
    backend="postgresql",
    backend_source="requirements.txt:2 asyncpg",
    sqlalchemy="1.4",
    sqlalchemy_source="poetry.lock: sqlalchemy 1.4.54",
    expire_on_commit=False,
    expire_on_commit_source="app/db.py:4 async_sessionmaker(expire_on_commit=False)",
    refresh_keyword=True,
)


# --------------------------------------------------------------------------
# find_config
# --------------------------------------------------------------------------


def test_find_config_returns_nearest_pyproject_with_the_table(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    outer = config_file(tmp_path, 'backend = "mysql"\n')
    write(tmp_path / "services/api/pyproject.toml", '[project]\nname = "api"\n')
    start = tmp_path / "services/api/app"
    start.mkdir(parents=True)
    assert find_config(start) == outer


def test_find_config_prefers_the_nearer_table(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    config_file(tmp_path, 'backend = "mysql"\n')
    inner = config_file(tmp_path / "services/api", 'backend = "postgresql"\n')
    assert find_config(tmp_path / "services/api") == inner


def test_find_config_accepts_a_file_as_start(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    found = config_file(tmp_path, "jobs = 2\n")
    module = write(tmp_path / "app/users.py", "x = 1\n")
    assert find_config(module) == found


def test_find_config_stops_at_the_git_boundary(tmp_path: Path) -> None:
    config_file(tmp_path, 'backend = "mysql"\n')
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    write(repo / "pyproject.toml", '[project]\nname = "repo"\n')
    assert find_config(repo / "src") is None
    assert find_config(repo) is None


def test_find_config_ignores_flushguard_mentioned_outside_the_table(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    write(tmp_path / "pyproject.toml", '[project]\nname = "x"\ndependencies = ["flushguard"]\n')
    assert find_config(tmp_path) is None


def test_find_config_returns_a_broken_file_so_that_loading_reports_it(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    broken = write(tmp_path / "pyproject.toml", "[tool.flushguard]\nbackend = \n")
    assert find_config(tmp_path) == broken
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(broken)


# --------------------------------------------------------------------------
# load_config
# --------------------------------------------------------------------------


def test_load_config_normalises_dashes_underscores_and_values(in_tmp: Path) -> None:
    path = config_file(
        in_tmp,
        """
        backend = "MySQL"
        sqlalchemy = "2.1"
        expire_on_commit = false
        session-name = ["uow.session", "db"]
        select = ["fg001", "FG002"]
        extend_exclude = ["migrations/*"]
        unsafe-fixes = true
        jobs = 4
        include_generated = false
        refresh_keyword = true
        format = "json"
        color = false
        """,
    )
    assert load_config(path) == {
        "backend": "mysql",
        "sqlalchemy": "2",
        "expire-on-commit": False,
        "session-name": ("uow.session", "db"),
        "select": ("FG001", "FG002"),
        "extend-exclude": ("migrations/*",),
        "unsafe-fixes": True,
        "jobs": 4,
        "include-generated": False,
        "refresh-keyword": True,
        "format": "json",
        "color": "never",
    }


def test_every_config_key_has_a_validator() -> None:
    assert set(CONFIG_KEYS) == set(settings_module._CHECKS)
    assert all("_" not in key for key in CONFIG_KEYS)


def test_unknown_key_names_the_key_and_the_file(in_tmp: Path) -> None:
    path = config_file(in_tmp, 'bakend = "mysql"\n')
    with pytest.raises(ConfigError) as error:
        load_config(path)
    message = str(error.value)
    assert message.startswith("pyproject.toml: unknown key 'bakend' in [tool.flushguard]")
    assert "did you mean 'backend'?" in message


def test_key_given_in_both_spellings_is_an_error(in_tmp: Path) -> None:
    path = config_file(in_tmp, "unsafe-fixes = true\nunsafe_fixes = false\n")
    with pytest.raises(ConfigError, match="'unsafe-fixes' and 'unsafe_fixes' are the same key"):
        load_config(path)


@pytest.mark.parametrize(
    "line, message",
    [
        (
            'jobs = "4"',
            "pyproject.toml: [tool.flushguard] jobs must be a positive integer, got '4' (a string)",
        ),
        ("jobs = 0", "pyproject.toml: [tool.flushguard] jobs must be a positive integer, got 0"),
        (
            "jobs = true",
            "pyproject.toml: [tool.flushguard] jobs must be a positive integer, got True (a boolean)",
        ),
        (
            'expire-on-commit = "false"',
            "pyproject.toml: [tool.flushguard] expire-on-commit must be true or false, got 'false' (a string)",
        ),
        (
            'select = "FG001"',
            "pyproject.toml: [tool.flushguard] select must be a list of strings, got 'FG001' (a string)",
        ),
        (
            "session_name = [1]",
            "pyproject.toml: [tool.flushguard] session-name must be a list of strings, got a list",
        ),
        (
            'ignore = ["E501"]',
            "pyproject.toml: [tool.flushguard] ignore: 'E501' is not a rule code or prefix",
        ),
        (
            'sqlalchemy = "3"',
            'pyproject.toml: [tool.flushguard] sqlalchemy must be one of "1.4", "2", "2.0", "2.1"',
        ),
        (
            'format = "xml"',
            "pyproject.toml: [tool.flushguard] format must be one of text, json, sarif, github, markdown",
        ),
        (
            'color = "sometimes"',
            "pyproject.toml: [tool.flushguard] color must be one of auto, always, never",
        ),
    ],
)
def test_wrong_value_type_names_key_and_file(in_tmp: Path, line: str, message: str) -> None:
    path = config_file(in_tmp, line + "\n")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value).startswith(message)


def test_invalid_backend_lists_the_valid_ones(in_tmp: Path) -> None:
    path = config_file(in_tmp, 'backend = "postgres"\n')
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value) == (
        "pyproject.toml: [tool.flushguard] backend must be one of "
        "postgresql, mysql, mariadb, sqlite, unknown; got 'postgres' (a string)"
    )


@pytest.mark.parametrize(
    "value, major", [('"1.4"', "1.4"), ('"2"', "2"), ('"2.0"', "2"), ("2.0", "2"), ("1.4", "1.4")]
)
def test_sqlalchemy_version_spellings(in_tmp: Path, value: str, major: str) -> None:
    assert load_config(config_file(in_tmp, f"sqlalchemy = {value}\n"))["sqlalchemy"] == major


def test_unparsable_toml_reports_the_toml_error(in_tmp: Path) -> None:
    path = write(in_tmp / "pyproject.toml", '[tool.flushguard]\nbackend = = "mysql"\n')
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value).startswith("pyproject.toml: invalid TOML: ")
    assert "line 2" in str(error.value)


def test_missing_file_is_a_config_error(in_tmp: Path) -> None:
    with pytest.raises(ConfigError, match="nope.toml: cannot read configuration"):
        load_config(in_tmp / "nope.toml")


def test_table_that_is_not_a_table_is_an_error(in_tmp: Path) -> None:
    path = write(in_tmp / "pyproject.toml", "[tool]\nflushguard = 3\n")
    with pytest.raises(ConfigError, match=r"\[tool.flushguard\] must be a table"):
        load_config(path)


def test_pyproject_without_the_table_is_an_empty_config(in_tmp: Path) -> None:
    assert load_config(write(in_tmp / "pyproject.toml", '[project]\nname = "x"\n')) == {}


def test_dedicated_config_file_is_read_from_its_top_level(in_tmp: Path) -> None:
    path = write(in_tmp / "flushguard.toml", 'backend = "mariadb"\n')
    config = load_config(path)
    assert config == {"backend": "mariadb"}
    with pytest.raises(
        ConfigError, match=r"^ci/flushguard.toml: unknown key 'colour' \(did you mean 'color'\?\)$"
    ):
        load_config(write(in_tmp / "ci/flushguard.toml", 'colour = "never"\n'))


def test_loaded_config_survives_pickling_with_its_path(in_tmp: Path) -> None:
    config = load_config(config_file(in_tmp, "jobs = 3\n"))
    copy = pickle.loads(pickle.dumps(config))
    assert copy == {"jobs": 3} and copy.path == config.path and copy.table == "[tool.flushguard]"


# --------------------------------------------------------------------------
# build_settings
# --------------------------------------------------------------------------


def test_detection_fills_what_nothing_configures(tmp_path: Path) -> None:
    settings = build_settings(tmp_path, facts=FACTS)
    assert settings == Settings(
        backend="postgresql",
        backend_source="requirements.txt:2 asyncpg",
        sqlalchemy="1.4",
        sqlalchemy_source="poetry.lock: sqlalchemy 1.4.54",
        expire_on_commit=False,
        expire_on_commit_source="app/db.py:4 async_sessionmaker(expire_on_commit=False)",
        refresh_keyword=True,
        roots=(("", ""),),
        roots_source="the project's top (no src/ folder, sub-project or package below another folder)",
    )


def test_config_beats_detection_and_says_so(in_tmp: Path) -> None:
    config = load_config(
        config_file(in_tmp, 'backend = "mysql"\nexpire-on-commit = true\nrefresh-keyword = false\n')
    )
    settings = build_settings(in_tmp, config, facts=FACTS)
    assert (settings.backend, settings.backend_source) == (
        "mysql",
        "pyproject.toml [tool.flushguard] backend",
    )
    assert (settings.expire_on_commit, settings.expire_on_commit_source) == (
        True,
        "pyproject.toml [tool.flushguard] expire-on-commit",
    )
    assert settings.refresh_keyword is False
    # Not configured: still detected.
    assert (settings.sqlalchemy, settings.sqlalchemy_source) == (
        "1.4",
        "poetry.lock: sqlalchemy 1.4.54",
    )


def test_command_line_beats_config(in_tmp: Path) -> None:
    config = load_config(config_file(in_tmp, 'backend = "mysql"\nselect = ["FG001"]\njobs = 2\n'))
    overrides = {"backend": "sqlite", "select": ("FG002,fg003",), "jobs": None, "session_name": ()}
    settings = build_settings(in_tmp, config, overrides, facts=FACTS)
    assert (settings.backend, settings.backend_source) == ("sqlite", "--backend")
    assert settings.select == ("FG002", "FG003")
    # None and empty sequences mean "option not given": the config value stays.
    assert settings.jobs == 2
    assert settings.session_names == ()


def test_config_in_a_subfolder_is_named_relative_to_the_root(tmp_path: Path) -> None:
    config = load_config(config_file(tmp_path / "services/api", 'sqlalchemy = "1.4"\n'))
    settings = build_settings(tmp_path, config, facts=ProjectFacts())
    assert settings.sqlalchemy_source == "services/api/pyproject.toml [tool.flushguard] sqlalchemy"


def test_plain_mapping_config_is_validated_too(tmp_path: Path) -> None:
    settings = build_settings(
        tmp_path, {"expire_on_commit": False, "session_name": ["db"]}, facts=ProjectFacts()
    )
    assert settings.expire_on_commit is False
    assert settings.expire_on_commit_source == "pyproject.toml [tool.flushguard] expire-on-commit"
    assert settings.session_names == ("db",)
    with pytest.raises(ConfigError, match="unknown key 'nope'"):
        build_settings(tmp_path, {"nope": 1}, facts=ProjectFacts())


def test_invalid_backend_override_lists_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        build_settings(tmp_path, overrides={"backend": "oracle"}, facts=ProjectFacts())
    assert str(error.value) == (
        "--backend must be one of postgresql, mysql, mariadb, sqlite, unknown; got 'oracle' (a string)"
    )


def test_unknown_override_key_is_a_caller_bug(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown override 'quiet'"):
        build_settings(tmp_path, overrides={"quiet": True}, facts=ProjectFacts())


def test_run_options_reach_the_settings(tmp_path: Path) -> None:
    config = {
        "exclude": ["legacy/*"],
        "extend-exclude": ["migrations/*"],
        "include-generated": True,
        "unsafe-fixes": True,
        "ignore": ["FG004"],
        "format": "sarif",
        "color": "always",
    }
    settings = build_settings(tmp_path, config, {"unsafe_fixes": False}, facts=ProjectFacts())
    assert settings.exclude == ("legacy/*",)
    assert settings.extend_exclude == ("migrations/*",)
    assert settings.include_generated is True
    assert settings.unsafe_fixes is False  # an explicit False on the command line wins
    assert settings.ignore == ("FG004",) and not settings.rule_enabled("FG004")
    assert (settings.format, settings.color, settings.jobs) == ("sarif", "always", None)


def test_detection_runs_on_the_root_when_no_facts_are_given(tmp_path: Path) -> None:
    write(tmp_path / "alembic.ini", "[alembic]\nsqlalchemy.url = mysql+aiomysql://u:p@db/app\n")
    write(tmp_path / "requirements.txt", "sqlalchemy==1.4.54\n")
    settings = build_settings(tmp_path)
    assert (settings.backend, settings.sqlalchemy) == ("mysql", "1.4")
    assert settings.backend_source == "alembic.ini:2 sqlalchemy.url = mysql+aiomysql://…"


def test_detection_is_skipped_when_everything_it_would_find_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object, **kwargs: object) -> ProjectFacts:
        raise AssertionError("detect_project should not run")

    monkeypatch.setattr(settings_module, "detect_project", fail)
    config = {"backend": "mysql", "sqlalchemy": "2", "refresh-keyword": True}
    settings = build_settings(tmp_path, config, {"expire_on_commit": False})
    assert (settings.backend, settings.expire_on_commit, settings.expire_on_commit_source) == (
        "mysql",
        False,
        "--expire-on-commit",
    )


def test_importing_settings_does_not_import_libcst(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = "import sys, codemods.settings; print('libcst' in sys.modules)"
    repo = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"

"""Package roots: each file gets the module name Python gives it, whatever the layout."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterable

import pytest

from codemods.package_roots import find_roots, module_name
from codemods.settings import ConfigError, build_settings, load_config
from codemods.project import ProjectFacts


def _tree(top: Path, files: Iterable[str]) -> list[Path]:
    made = []
    for name in files:
        path = top / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
        made.append(path)
    return made


def _names(top: Path, files: Iterable[str], configured: Iterable[str] = ()) -> Dict[str, str]:
    made = _tree(top, files)
    roots, _ = find_roots(top, [p for p in made if p.suffix == ".py"], list(configured))
    return {p.relative_to(top).as_posix(): module_name(p.relative_to(top).as_posix(), roots)
            for p in made if p.suffix == ".py"}


def test_a_src_layout_is_named_from_src(tmp_path: Path) -> None:
    names = _names(tmp_path, ["src/app/__init__.py", "src/app/models.py", "tests/test_app.py"])
    assert names == {"src/app/__init__.py": "app", "src/app/models.py": "app.models",
                     "tests/test_app.py": "tests.test_app"}


def test_namespace_packages_under_src_are_named_from_src(tmp_path: Path) -> None:
    names = _names(tmp_path, ["src/app/models.py", "src/app/db/session.py"])
    assert names == {"src/app/models.py": "app.models", "src/app/db/session.py": "app.db.session"}


def test_a_package_is_named_from_the_folder_above_its_top_most_init(tmp_path: Path) -> None:
    # litestar-fullstack's layout: the packages live in src/py, which is on sys.path.
    names = _names(tmp_path, ["src/py/app/__init__.py", "src/py/app/db/__init__.py",
                              "src/py/app/db/models.py"])
    assert names["src/py/app/db/models.py"] == "app.db.models"


def test_several_top_level_packages_keep_their_own_names(tmp_path: Path) -> None:
    names = _names(tmp_path, ["api/__init__.py", "api/routes.py", "core/__init__.py",
                              "core/models.py", "manage.py"])
    assert names == {"api/__init__.py": "api", "api/routes.py": "api.routes",
                     "core/__init__.py": "core", "core/models.py": "core.models",
                     "manage.py": "manage"}


def test_a_backend_in_a_monorepo_subfolder_is_named_from_that_subfolder(tmp_path: Path) -> None:
    names = _names(tmp_path, ["backend/pyproject.toml", "backend/app/models.py",
                              "backend/app/services/users.py", "tools/release.py"])
    assert names == {"backend/app/models.py": "app.models",
                     "backend/app/services/users.py": "app.services.users",
                     "tools/release.py": "tools.release"}


def test_a_package_below_a_folder_that_is_not_a_name_starts_there(tmp_path: Path) -> None:
    # tracecat's packages/tracecat-ee/tracecat_ee: `tracecat-ee` cannot be part of a name.
    names = _names(tmp_path, ["packages/tracecat-ee/tracecat_ee/__init__.py",
                              "packages/tracecat-ee/tracecat_ee/rbac/service.py",
                              "tracecat/__init__.py", "tracecat/db/models.py"])
    assert names["packages/tracecat-ee/tracecat_ee/rbac/service.py"] == "tracecat_ee.rbac.service"
    assert names["tracecat/db/models.py"] == "tracecat.db.models"


def test_a_folder_without_init_inside_a_package_is_part_of_it(tmp_path: Path) -> None:
    # tracecat/integrations has no __init__.py, yet is imported as tracecat.integrations.
    names = _names(tmp_path, ["tracecat/__init__.py", "tracecat/integrations/service.py",
                              "tracecat/integrations/providers/__init__.py",
                              "tracecat/integrations/providers/base.py"])
    assert names["tracecat/integrations/service.py"] == "tracecat.integrations.service"
    assert names["tracecat/integrations/providers/base.py"] == \
        "tracecat.integrations.providers.base"


def test_a_configured_root_names_namespace_packages_below_it(tmp_path: Path) -> None:
    files = ["lib/acme/billing/__init__.py", "lib/acme/billing/models.py"]
    assert _names(tmp_path / "found", files)["lib/acme/billing/models.py"] == "billing.models"
    configured = _names(tmp_path / "configured", files, ["lib"])
    assert configured["lib/acme/billing/models.py"] == "acme.billing.models"


def test_a_project_whose_top_is_a_package_carries_its_name(tmp_path: Path) -> None:
    top = tmp_path / "shop"
    names = _names(top, ["__init__.py", "models.py", "services/__init__.py", "services/orders.py"])
    assert names["services/orders.py"] == "shop.services.orders"
    assert names["models.py"] == "shop.models"


def test_a_configured_root_above_the_project_names_it(tmp_path: Path) -> None:
    made = _tree(tmp_path, ["backend/models.py"])
    roots, _ = find_roots(tmp_path / "backend", made, [".."])
    assert module_name("models.py", roots) == "backend.models"


def test_the_roots_say_where_they_come_from(tmp_path: Path) -> None:
    made = _tree(tmp_path, ["src/app/__init__.py", "backend/setup.cfg", "backend/api/x.py"])
    roots, why = find_roots(tmp_path, [p for p in made if p.suffix == ".py"])
    assert dict(roots) == {"src": "", "backend": "", "": ""}
    assert why == "backend (a sub-project), src (a src/ layout)"


@pytest.mark.parametrize(("path", "expected"), [
    ("src/app/models.py", "app.models"),
    ("src/app/__init__.py", "app"),
    ("src\\app\\models.py", "app.models"),
    ("./src/app/x.pyi", "app.x"),
    ("scripts/run.py", "scripts.run"),
    ("src.py", "src"),
])
def test_module_name_takes_the_longest_root_that_holds_the_file(path: str, expected: str) -> None:
    assert module_name(path, (("src", ""), ("", ""))) == expected


def test_the_roots_key_is_read_relative_to_the_configuration_file(tmp_path: Path) -> None:
    _tree(tmp_path, ["lib/acme/billing/__init__.py"])
    config_file = tmp_path / "pyproject.toml"
    config_file.write_text('[tool.flushguard]\nroots = ["lib"]\n')
    settings = build_settings(tmp_path, load_config(config_file), facts=ProjectFacts())
    assert ("lib", "") in settings.roots
    assert settings.roots_source == "lib (configured by pyproject.toml [tool.flushguard] roots)"


def test_a_configured_root_that_is_not_a_folder_is_an_error(tmp_path: Path) -> None:
    config_file = tmp_path / "pyproject.toml"
    config_file.write_text('[tool.flushguard]\nroots = ["scr"]\n')
    with pytest.raises(ConfigError, match=r"roots: 'scr' is not a folder"):
        build_settings(tmp_path, load_config(config_file), facts=ProjectFacts())

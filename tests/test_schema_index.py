"""schema_index: which attributes serializing an object through a pydantic schema reads."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from codemods.frontend import ParseError
from codemods.schema_index import build_schema_index, scan_schemas

REPO = Path(__file__).resolve().parents[1]


def schemas(source: str, path: str = "app/schemas.py"):
    return build_schema_index(scan_schemas(textwrap.dedent(source), path))


def test_fields_aliases_and_nested_schemas() -> None:
    index = schemas(
        """
        from pydantic import BaseModel, Field

        class TaskOut(BaseModel):
            id: int

        class UserOut(BaseModel):
            name: str = Field(alias="full_name")
            tasks: list["TaskOut"] | None = None
        """
    )
    user = index.by_qualname("app.schemas.UserOut")
    assert user is not None
    assert user.fields == (("full_name", None), ("tasks", "app.schemas.TaskOut"))


def test_a_one_line_class_body_has_its_field() -> None:
    index = schemas("from pydantic import BaseModel\nclass IdOut(BaseModel): id: int\n")
    assert index.by_qualname("app.schemas.IdOut").fields == (("id", None),)


def test_an_alias_written_as_adjacent_strings_is_one_name() -> None:
    index = schemas(
        """
        from pydantic import BaseModel, Field

        class Out(BaseModel):
            created: str = Field(validation_alias="created" "_at")
        """
    )
    assert index.by_qualname("app.schemas.Out").fields == (("created_at", None),)


def test_a_starred_base_is_not_a_base_class() -> None:
    scanned = scan_schemas("from pydantic import BaseModel\nclass Out(*mixins, BaseModel):\n    id: int\n",
                           "app/schemas.py")
    assert scanned[0].bases == ("pydantic.BaseModel",)


def test_syntax_error_raises_parse_error() -> None:
    with pytest.raises(ParseError):
        scan_schemas("class Out(BaseModel):\n    id: int = (\n", "app/schemas.py")


def test_scanning_does_not_import_libcst() -> None:
    code = (
        "import sys; from codemods.schema_index import scan_schemas; "
        "scan_schemas('from pydantic import BaseModel\\nclass A(BaseModel):\\n    x: int\\n', 'a.py'); "
        "print('libcst' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"

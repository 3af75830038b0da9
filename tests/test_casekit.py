"""Loading snapshot cases: a malformed case.toml must stop the run and name the case.

A typo that loaded quietly (`cal = ...`, `verdict = "bugs"`) would turn a case into a
different one that still passes; so casekit accepts exactly the documented keys.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from casekit import CaseError, load_case, load_cases, materialize

VALID = """
description = "A server_default read after flush."
verdict = "bug"

[scenario]
call = "create_user(session, 'bob')"
"""


def make_case(
    root: Path, name: str, toml: str = VALID, files: tuple[str, ...] = ("app.py",)
) -> Path:
    folder = root / name
    (folder / "input").mkdir(parents=True)
    for relative in files:
        (folder / "input" / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / "input" / relative).write_text(f"# {name} {relative}\n", encoding="utf-8")
    (folder / "case.toml").write_text(toml, encoding="utf-8")
    return folder


def test_cases_load_sorted_with_documented_defaults(tmp_path):
    make_case(tmp_path, "b_case")
    make_case(tmp_path, "a_case", VALID + 'module = "service"\nseed = "session.add(1)"\n')
    (tmp_path / "README.md").write_text("not a case")
    (tmp_path / "__pycache__").mkdir()

    first, second = load_cases(tmp_path)

    assert [first.name, second.name] == ["a_case", "b_case"]
    assert (first.module, first.seed) == ("service", "session.add(1)")
    assert (second.module, second.seed) == ("app", None)
    assert second.verdict == "bug"
    assert second.call == "create_user(session, 'bob')"
    assert second.input_dir == tmp_path / "b_case" / "input"
    assert second.output_dir == tmp_path / "b_case" / "output"
    assert second.output_unsafe_dir == tmp_path / "b_case" / "output-unsafe"
    assert second.findings_file == tmp_path / "b_case" / "findings.txt"
    assert not second.has_output and not second.has_unsafe_output


@pytest.mark.parametrize(
    "toml, complaint",
    [
        (VALID.replace("call = ", "cal = "), "scenario.cal"),
        (VALID.replace("call = ", "module = 'app'\n#"), "missing scenario.call"),
        (VALID.replace('"bug"', '"bugs"'), "'bugs' is not one of bug, safe, possible"),
        (VALID.replace("verdict", "verdikt"), "verdikt"),
        ('description = "d"\nverdict = "safe"\n', "no [scenario]"),
        (VALID.replace('"bug"', "bug"), "not valid TOML"),
        (VALID.replace("create_user(session, 'bob')", "create_user(session,"), "not valid Python"),
        (VALID + 'seed = "session.add(User("\n', "scenario.seed is not valid Python"),
    ],
)
def test_malformed_case_toml_is_an_error_naming_the_case(tmp_path, toml, complaint):
    make_case(tmp_path, "fg001_broken", toml)
    with pytest.raises(CaseError) as raised:
        load_cases(tmp_path)
    assert "fg001_broken" in str(raised.value)
    assert complaint in str(raised.value)


HTTP = """
description = "A response model reads an expired server default."
verdict = "bug"

[scenario]
app = "app.main:app"
request = "PUT /grants/1"
json = { status = "active", tags = ["a", "b"], limits = { daily = 3 } }
seed = "session.add(1)"
"""


def test_http_scenario_loads_with_its_module_attribute_and_request(tmp_path):
    case = load_case(make_case(tmp_path, "fg004_http", HTTP, files=("app/main.py",)))

    assert case.is_http
    assert case.call is None
    assert (case.app, case.module, case.app_attribute) == ("app.main:app", "app.main", "app")
    assert case.request is not None
    assert (case.request.method, case.request.path) == ("PUT", "/grants/1")
    assert case.request.json == {"status": "active", "tags": ["a", "b"], "limits": {"daily": 3}}
    assert case.seed == "session.add(1)"
    assert case.scenario_text.startswith("request: PUT /grants/1 {")
    assert case.scenario_text.endswith(" to app.main:app")


def test_http_scenario_without_json_sends_no_body_and_call_scenarios_are_not_http(tmp_path):
    toml = HTTP.replace("json = ", "# json = ").replace('request = "PUT', 'request = "GET')
    http = load_case(make_case(tmp_path, "http", toml))
    call = load_case(make_case(tmp_path, "call"))
    assert http.request is not None and http.request.json is None
    assert http.request.describe() == "GET /grants/1"
    assert not call.is_http and call.app is None and call.request is None
    assert call.scenario_text == "call: create_user(session, 'bob')"


def test_http_scenario_json_may_be_an_array_for_a_list_body(tmp_path):
    toml = HTTP.replace(
        "json = { status",
        'json = [{ email = "a@example.com" }, { email = "b@example.com" }]\n# { status',
    )
    case = load_case(make_case(tmp_path, "bulk", toml))
    assert case.request is not None
    assert case.request.json == [{"email": "a@example.com"}, {"email": "b@example.com"}]


@pytest.mark.parametrize(
    "toml, complaint",
    [
        (HTTP + 'call = "f(session)"\n', "scenario.app is for an HTTP scenario"),
        (VALID + 'request = "GET /users"\n', "scenario.request is for an HTTP scenario"),
        (VALID + 'json = { a = 1 }\n', "scenario.json is for an HTTP scenario"),
        (HTTP.replace('request = "PUT /grants/1"', ""), "missing scenario.request"),
        (HTTP.replace('app = "app.main:app"', ""), "missing scenario.app"),
        (HTTP + 'module = "app.main"\n', "scenario.module is for a call scenario"),
        (HTTP.replace('"app.main:app"', '"app.main"'), "is not \"package.module:attribute\""),
        (HTTP.replace('"app.main:app"', '"app.main:"'), "is not \"package.module:attribute\""),
        (HTTP.replace('"PUT /grants/1"', '"PUT grants/1"'), "is not \"METHOD /path\""),
        (HTTP.replace('"PUT /grants/1"', '"put /grants/1"'), "is not \"METHOD /path\""),
        (HTTP.replace('"PUT /grants/1"', '"/grants/1"'), "is not \"METHOD /path\""),
        (HTTP.replace("json = {", 'json = "{"  # {'), "scenario.json must be a table"),
        (HTTP.replace("jsn", "x").replace("json =", "jsn ="), "scenario.jsn"),
        (
            'description = "d"\nverdict = "safe"\n[scenario]\nseed = "pass"\n',
            "missing scenario.call",
        ),
    ],
)
def test_malformed_http_scenario_is_an_error_naming_the_case(tmp_path, toml, complaint):
    make_case(tmp_path, "fg004_broken", toml)
    with pytest.raises(CaseError) as raised:
        load_cases(tmp_path)
    assert "fg004_broken" in str(raised.value)
    assert complaint in str(raised.value)


def test_case_folder_without_case_toml_is_an_error(tmp_path):
    (tmp_path / "half_written" / "input").mkdir(parents=True)
    with pytest.raises(CaseError, match="half_written.*no case.toml"):
        load_cases(tmp_path)


def test_materialize_lays_the_fix_over_the_input(tmp_path):
    folder = make_case(tmp_path / "cases", "c", files=("app.py", "models.py", "pkg/__init__.py"))
    (folder / "output").mkdir()
    (folder / "output" / "app.py").write_text("# fixed\n")
    (folder / "output-unsafe" / "pkg").mkdir(parents=True)
    (folder / "output-unsafe" / "pkg" / "__init__.py").write_text("# unsafe-fixed\n")
    (folder / "input" / "__pycache__").mkdir()
    (folder / "input" / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"stale")
    case = load_case(folder)

    original = materialize(case, "original", tmp_path / "original")
    fixed = materialize(case, "fixed", tmp_path / "fixed")
    unsafe = materialize(case, "unsafe-fixed", tmp_path / "unsafe")

    assert (original / "app.py").read_text() == "# c app.py\n"
    assert not (original / "__pycache__").exists()
    assert (fixed / "app.py").read_text() == "# fixed\n"
    assert (fixed / "models.py").read_text() == "# c models.py\n"
    assert (fixed / "pkg" / "__init__.py").read_text() == "# c pkg/__init__.py\n"
    assert (unsafe / "app.py").read_text() == "# c app.py\n"
    assert (unsafe / "pkg" / "__init__.py").read_text() == "# unsafe-fixed\n"


def test_materialize_without_the_overlay_says_which_is_missing(tmp_path):
    case = load_case(make_case(tmp_path, "no_fix"))
    with pytest.raises(FileNotFoundError, match="no_fix.*output/"):
        materialize(case, "fixed", tmp_path / "out")

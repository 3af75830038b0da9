"""One run reads its configuration once: the command line makes one options value
(:mod:`codemods.options`) and everything after it takes the configuration from there."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path
from typing import List

import pytest
from click.testing import CliRunner

from clikit import make_project
from codemods import cli, settings
from codemods.options import Options, load_options

#: Settles no detected setting, so the project's own files are read for them too.
CONFIG = '[tool.flushguard]\nselect = ["FG001"]\njobs = 1\n'


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> Counter:
    """How often a run looked for, read and detected its configuration."""
    counts: Counter = Counter()

    def counting(name: str):
        real = getattr(settings, name)

        def call(*args, **kwargs):
            counts[name] += 1
            return real(*args, **kwargs)
        monkeypatch.setattr(settings, name, call)

    for name in ("find_config", "load_config", "detect_project"):
        counting(name)
    return counts


@pytest.mark.parametrize("args, status", [
    (["check"], 1),
    (["check", "--format", "json"], 1),
    (["diff", "--color", "never"], 1),
    (["fix"], 0),
    (["audit"], 0),
    (["branch"], 0),
    (["check", "-", "--stdin-filename", "app/service.py"], 1),
])
def test_a_run_reads_its_configuration_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            loads: Counter, args: List[str], status: int) -> None:
    project = make_project(tmp_path / "p", extra={"pyproject.toml": CONFIG})
    monkeypatch.chdir(project)
    source = (project / "app" / "service.py").read_text()
    result = CliRunner().invoke(cli.main, [*args, "--no-cache"], input=source)
    assert result.exit_code == status, result.output
    assert loads == {"find_config": 1, "load_config": 1, "detect_project": 1}


def test_the_options_are_frozen_and_take_the_command_line_over_the_configuration(
        tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", repo=False, extra={
        "pyproject.toml": CONFIG + 'format = "json"\nexclude = ["legacy/*"]\n'})
    options = load_options([project], {"jobs": 2, "unsafe-fixes": True}, cwd=project)
    assert (options.root, options.jobs, options.unsafe_fixes, options.format, options.exclude) \
        == (project.resolve(), 2, True, "json", ("legacy/*",))
    assert load_options([project], {"format": "sarif"}, exclude=["x/*"]).format == "sarif"
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.jobs = 3  # type: ignore[misc]
    assert isinstance(options, Options) and options.fixes


def test_a_bad_setting_on_the_command_line_is_reported_before_the_run(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", repo=False)
    with pytest.raises(settings.ConfigError, match="--select"):
        load_options([project], {"select": ["nope"]})

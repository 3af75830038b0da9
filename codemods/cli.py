"""The command line: options into settings, the engine's results out to the terminal.

Payload (findings, diffs) goes to stdout; messages and the summary go to stderr.
Exit codes: 0 nothing found / nothing to change, 1 findings or changes, 2 error.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import click

from codemods import __version__

BACKEND_CHOICES = ("postgresql", "mysql", "mariadb", "sqlite", "unknown")


def _common(func):
    options = [
        click.argument("paths", nargs=-1, type=click.Path(path_type=Path)),
        click.option("--backend", type=click.Choice(BACKEND_CHOICES), default=None,
                     help="Database backend (default: detected from the project)."),
        click.option("--sqlalchemy", "sqlalchemy_version", type=click.Choice(["1.4", "2"]), default=None,
                     help="SQLAlchemy major version (default: detected from requirements/lock files)."),
        click.option("--expire-on-commit/--no-expire-on-commit", default=None,
                     help="Whether commit() expires objects (default: detected from the session factory)."),
        click.option("--session-name", multiple=True,
                     help="Extra name of an expression holding an AsyncSession (repeatable)."),
        click.option("--select", multiple=True, help="Only these rule codes (prefixes)."),
        click.option("--ignore", multiple=True, help="Skip these rule codes (prefixes)."),
        click.option("--exclude", multiple=True, help="Glob of paths to skip (repeatable)."),
        click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
                     default=None, help="Read [tool.flushguard] from this file."),
        click.option("--unsafe-fixes", is_flag=True, default=None,
                     help="Also fix *possible* findings."),
        click.option("--quiet", "-q", is_flag=True, help="Print no summary."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="flushguard")
def main() -> None:
    """Find and fix async SQLAlchemy reads that raise MissingGreenlet after flush() and commit()."""


def _overrides(backend: Optional[str], sqlalchemy_version: Optional[str], expire_on_commit: Optional[bool],
               session_name: Sequence[str], select: Sequence[str], ignore: Sequence[str],
               unsafe_fixes: Optional[bool]) -> Dict[str, object]:
    overrides: Dict[str, object] = {}
    if backend is not None:
        overrides["backend"] = backend
    if sqlalchemy_version is not None:
        overrides["sqlalchemy"] = sqlalchemy_version
    if expire_on_commit is not None:
        overrides["expire-on-commit"] = expire_on_commit
    if session_name:
        overrides["session-name"] = list(session_name)
    if select:
        overrides["select"] = [c.upper() for c in select]
    if ignore:
        overrides["ignore"] = [c.upper() for c in ignore]
    if unsafe_fixes:
        overrides["unsafe-fixes"] = True
    return overrides


def _run(paths: Tuple[Path, ...], config_path: Optional[Path], exclude: Sequence[str],
         overrides: Dict[str, object]):
    from codemods.engine import run
    from codemods.settings import ConfigError

    targets = list(paths) or [Path(".")]
    missing = [p for p in targets if not p.exists()]
    for path in missing:
        click.echo(f"{path}: error: no such file or directory", err=True)
    targets = [p for p in targets if p.exists()]
    if not targets:
        sys.exit(2)
    try:
        result = run(targets, overrides, config_path=config_path, exclude=exclude)
    except ConfigError as exc:
        click.echo(f"flushguard: error: {exc}", err=True)
        sys.exit(2)
    for outcome in result.errors:
        click.echo(f"{outcome.display}: error: {outcome.error}", err=True)
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    return result, bool(missing)


def _analyse(options: Dict[str, object]):
    """The shared start of every command: options into overrides, the engine run, bad input reported."""
    overrides = _overrides(options["backend"], options["sqlalchemy_version"], options["expire_on_commit"],
                           options["session_name"], options["select"], options["ignore"],
                           options["unsafe_fixes"])
    return _run(options["paths"], options["config_path"], options["exclude"], overrides)


@main.command()
@_common
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text",
              help="Output format.")
def check(output_format: str, **options) -> None:
    """List findings. Exit 0: none, 1: findings, 2: error."""
    from codemods import report

    started = time.perf_counter()
    result, missing = _analyse(options)
    if output_format == "json":
        click.echo(report.render_json(result), nl=False)
    else:
        click.echo(report.render_text(result.findings), nl=False)
    if not options["quiet"]:
        click.echo(report.summary_line(result, time.perf_counter() - started), err=True)
    sys.exit(2 if (result.errors or missing) else (1 if result.findings else 0))


@main.command()
@_common
def diff(**options) -> None:
    """Print the fixes as a unified diff. Exit 0: no change, 1: changes, 2: error."""
    from codemods import report

    started = time.perf_counter()
    result, missing = _analyse(options)
    changed = [o for o in result.outcomes if o.changed]
    click.echo(report.render_diff(changed), nl=False)
    if not options["quiet"]:
        click.echo(report.summary_line(result, time.perf_counter() - started, len(changed),
                                       "would be changed"), err=True)
    sys.exit(2 if (result.errors or missing) else (1 if changed else 0))


@main.command()
@_common
def fix(**options) -> None:
    """Rewrite files in place. Exit 0: nothing left unfixed, 1: findings left unfixed, 2: error."""
    from codemods import files, report

    started = time.perf_counter()
    result, missing = _analyse(options)
    written = 0
    write_errors: List[str] = []
    for outcome in result.outcomes:
        if not outcome.changed or outcome.new_data is None:
            continue
        try:
            files.write_atomic(outcome.path, outcome.new_data, expected_original=outcome.original)
            written += 1
        except (files.ReadError, OSError) as exc:
            message = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            write_errors.append(f"{outcome.display}: error: {message}")
    for line in write_errors:
        click.echo(line, err=True)
    unfixed = [
        f for f in result.findings
        if f.fix is None or (f.fix.applicability == "unsafe" and not result.settings.unsafe_fixes)
    ]
    if not options["quiet"]:
        click.echo(report.summary_line(result, time.perf_counter() - started, written, "fixed"), err=True)
    if result.errors or missing or write_errors:
        sys.exit(2)
    sys.exit(1 if unfixed else 0)

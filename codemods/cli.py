"""The command line: flags into one run's options, the engine's results out to the terminal.

Payload (findings, diffs, fixed source, the new branch) goes to stdout; messages, progress
and the summary go to stderr. Exit codes: 0 nothing found / nothing to change, 1 findings
or changes, 2 error.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Dict, List, Mapping, NoReturn, Optional, Sequence, Tuple

import click

from codemods import __version__

if TYPE_CHECKING:
    from codemods.engine import FileOutcome, RunResult
    from codemods.options import FixMode, Options
    from codemods.types import Edit, Finding

BACKEND_CHOICES = ("postgresql", "mysql", "mariadb", "sqlite", "unknown")
CHECK_FORMATS = ("text", "json", "sarif", "github")
AUDIT_FORMATS = ("markdown", "json")
COLOR_CHOICES = ("auto", "always", "never")
DEFAULT_STDIN_FILENAME = "stdin.py"


def _common(func):
    options = [
        click.argument("paths", nargs=-1, type=click.Path(path_type=Path)),
        click.option("--backend", type=click.Choice(BACKEND_CHOICES), default=None,
                     help="Database backend (default: detected from the project)."),
        click.option("--sqlalchemy", "sqlalchemy_version", type=click.Choice(["1.4", "2"]),
                     default=None,
                     help="SQLAlchemy major version (default: detected from requirements/lock "
                          "files)."),
        click.option("--expire-on-commit/--no-expire-on-commit", default=None,
                     help="Whether commit() expires objects (default: detected from the session "
                          "factory)."),
        click.option("--session-name", multiple=True,
                     help="Extra name of an expression holding an AsyncSession (repeatable)."),
        click.option("--select", multiple=True, help="Only these rule codes (prefixes)."),
        click.option("--ignore", multiple=True, help="Skip these rule codes (prefixes)."),
        click.option("--exclude", multiple=True,
                     help="Glob of paths to skip, replacing the default exclusions (repeatable)."),
        click.option("--extend-exclude", multiple=True,
                     help="Glob of paths to skip, on top of the default exclusions (repeatable)."),
        click.option("--include-generated", is_flag=True, default=None,
                     help="Also analyse files marked @generated."),
        click.option("--force-exclude", is_flag=True,
                     help="Apply exclusions and .gitignore to files named on the command line "
                          "too."),
        click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
                     default=None, help="Read [tool.flushguard] from this file."),
        click.option("--unsafe-fixes", is_flag=True, default=None,
                     help="Also fix *possible* findings."),
        click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
                     help="Worker processes (default: one per core)."),
        click.option("--stdin-filename", type=click.Path(path_type=Path), default=None,
                     help="With PATH '-': where the source on stdin lives "
                          f"(default: {DEFAULT_STDIN_FILENAME})."),
        click.option("--quiet", "-q", is_flag=True, help="Print no summary and no progress."),
        click.option("--no-progress", is_flag=True, help="Never show the progress bar."),
        click.option("--no-cache", is_flag=True, envvar="FLUSHGUARD_NO_CACHE",
                     help="Read every file afresh, and keep nothing for the next run."),
        click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
                     envvar="FLUSHGUARD_CACHE_DIR",
                     help="Where facts from unchanged files are kept (default: .flushguard_cache "
                          "in the project)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _color_option(func):
    return click.option("--color", type=click.Choice(COLOR_CHOICES), default=None,
                        help="Color the diff: auto (only on a terminal, the default), always, "
                             "never.")(func)


class _Commands(click.Group):
    """The command group. Ctrl-C ends any command with one line on stderr and exit status
    130, once the clean-up is done (see :mod:`codemods.interrupts`)."""

    def invoke(self, ctx: click.Context) -> Any:
        from codemods import interrupts

        restore = interrupts.install()
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            _interrupted()
        finally:
            if not _STOPPED:  # once interrupted, Ctrl-C stays ignored to the end
                restore()


_STOPPED: List[bool] = []


def _interrupted(what: str = "") -> NoReturn:
    """The one line a Ctrl-C gets, and exit status 130."""
    from codemods import interrupts

    _STOPPED.append(True)
    click.echo(f"{interrupts.MESSAGE}{what}", err=True)
    sys.exit(130)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="flushguard")
def main() -> None:
    """Find and fix async SQLAlchemy reads that raise MissingGreenlet after flush() and commit()."""


def _fail(message: str) -> NoReturn:
    click.echo(f"flushguard: error: {message}", err=True)
    sys.exit(2)


def _overrides(params: Mapping[str, Any]) -> Dict[str, object]:
    """The settings the command line gives, under the configuration's keys; an option not
    given is left out."""
    overrides: Dict[str, object] = {}
    if params["backend"] is not None:
        overrides["backend"] = params["backend"]
    if params["sqlalchemy_version"] is not None:
        overrides["sqlalchemy"] = params["sqlalchemy_version"]
    if params["expire_on_commit"] is not None:
        overrides["expire-on-commit"] = params["expire_on_commit"]
    if params["session_name"]:
        overrides["session-name"] = list(params["session_name"])
    if params["select"]:
        overrides["select"] = [c.upper() for c in params["select"]]
    if params["ignore"]:
        overrides["ignore"] = [c.upper() for c in params["ignore"]]
    if params["unsafe_fixes"]:
        overrides["unsafe-fixes"] = True
    if params["jobs"] is not None:
        overrides["jobs"] = params["jobs"]
    if params.get("output_format") is not None:
        overrides["format"] = params["output_format"]
    if params.get("color") is not None:
        overrides["color"] = params["color"]
    return overrides


@dataclass(frozen=True)
class _Run:
    """One analysis as a command sees it."""

    options: Options
    result: RunResult
    #: A PATH did not exist (reported already).
    missing: bool
    seconds: float


def _stdin_mode(params: Mapping[str, Any]) -> bool:
    paths: Tuple[Path, ...] = params["paths"]
    if Path("-") in paths:
        if len(paths) > 1:
            _fail("'-' (stdin) cannot be combined with other paths")
        return True
    if params["stdin_filename"] is not None and not paths:
        return True  # like ruff: --stdin-filename alone reads stdin
    if params["stdin_filename"] is not None:
        _fail("--stdin-filename is for source on stdin: pass '-' as the only PATH")
    return False


def _analyse(params: Mapping[str, Any], fix_mode: FixMode,
             paths: Optional[Sequence[Path]] = None, cwd: Optional[Path] = None,
             root: Optional[Path] = None, respect_gitignore: bool = True,
             cache: bool = True) -> _Run:
    """The shared start of every command: its flags (``params``) into one run's options, the
    configuration read once (:func:`codemods.options.load_options`), the run, bad input
    reported on stderr.

    ``paths``/``cwd``/``root`` stand in for the command line's paths and the current folder
    (``branch`` analyses a copy of a committed revision).
    """
    from codemods import engine
    from codemods.options import load_options
    from codemods.settings import ConfigError

    started = time.perf_counter()
    stdin = paths is None and _stdin_mode(params)
    missing: List[Path] = []
    if stdin:
        targets = [params["stdin_filename"] or Path(DEFAULT_STDIN_FILENAME)]
    else:
        given = list(paths if paths is not None else params["paths"]) or [Path(".")]
        missing = [p for p in given if not p.exists()]
        for path in missing:
            click.echo(f"{path}: error: no such file or directory", err=True)
        targets = [p for p in given if p.exists()]
        if not targets:
            sys.exit(2)
    try:
        options = load_options(
            targets, _overrides(params), config_path=params["config_path"], cwd=cwd, root=root,
            stdin=stdin, exclude=params["exclude"], extend_exclude=params["extend_exclude"],
            include_generated=params["include_generated"],
            force_exclude=bool(params["force_exclude"]), respect_gitignore=respect_gitignore,
            fix_mode=fix_mode, cache=cache and not params["no_cache"],
            cache_dir=params["cache_dir"], quiet=bool(params["quiet"]),
            progress=not params["no_progress"])
        if stdin:
            result = engine.run_source(sys.stdin.buffer.read(), options)
        else:
            show = options.progress and not options.quiet and _is_terminal(sys.stderr)
            with _Progress(sys.stderr if show else None, "flushguard: analysing") as bar:
                result = engine.run(options, progress=bar.update)
    except ConfigError as exc:
        _fail(str(exc))
    if stdin:
        _report_problems(result, stdin_without_filename=params["stdin_filename"] is None)
    else:
        _report_problems(result, cwd)
    return _Run(options, result, bool(missing), time.perf_counter() - started)


def _report_problems(result: RunResult, cwd: Optional[Path] = None,
                     stdin_without_filename: bool = False) -> None:
    """Unreadable files, then what the run could not check, then notes (all on stderr)."""
    from codemods import diagnostics

    for outcome in sorted(result.errors, key=lambda o: o.display):
        click.echo(f"{outcome.display}: error: {outcome.error}", err=True)
    for warning in diagnostics.warnings(result, cwd, stdin_without_filename):
        click.echo(f"warning: {warning}", err=True)
    for note in result.notes:
        click.echo(f"note: {note}", err=True)


def _is_terminal(stream: IO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _use_color(choice: str, stream: IO) -> bool:
    """``--color`` over ``color =`` in the configuration; ``auto``: a terminal, without NO_COLOR."""
    if choice == "auto":
        return _is_terminal(stream) and not os.environ.get("NO_COLOR")
    return choice == "always"


def _unfixed(findings: Sequence[Finding], applied: Optional[set] = None,
             unsafe_fixes: bool = False) -> List[Finding]:
    """Findings no applied fix covers. ``applied`` holds the edit of each fix taken; None
    means every fix the run made was taken."""
    left = []
    for f in findings:
        if f.fix is None or (f.fix.applicability == "unsafe" and not unsafe_fixes):
            left.append(f)
        elif applied is not None and f.fix.edit not in applied:
            left.append(f)
    return left


def _summary(run: _Run, changed: int = 0, verb: str = "") -> None:
    from codemods import report

    if not run.options.quiet:
        click.echo(report.summary_line(run.result, run.seconds, changed, verb), err=True)


@main.command()
@_common
@click.option("--format", "output_format", type=click.Choice(CHECK_FORMATS), default=None,
              help="text (path:line:col: CODE message, the default), json, sarif or github.")
def check(**params) -> None:
    """List findings. Exit 0: none, 1: findings, 2: error."""
    from codemods import report

    run = _analyse(params, "off")
    result = run.result
    output_format = run.options.format if run.options.format in CHECK_FORMATS else "text"
    if output_format == "json":
        click.echo(report.render_json(result), nl=False)
    elif output_format == "sarif":
        click.echo(report.render_sarif(result, __version__, report.file_uri(Path.cwd())),
                   nl=False)
    elif output_format == "github":
        click.echo(report.render_github(result.findings), nl=False)
    else:
        click.echo(report.render_text(result.findings), nl=False)
    _summary(run)
    sys.exit(2 if (result.errors or run.missing) else (1 if result.findings else 0))


@main.command()
@_common
@_color_option
def diff(**params) -> None:
    """Print the fixes as a unified diff. Exit 0: no change, 1: changes, 2: error."""
    from codemods import report

    run = _analyse(params, "diff")
    result = run.result
    changed = [o for o in result.outcomes if o.changed]
    patch = report.render_diff(changed)
    colored = _use_color(run.options.color, sys.stdout)
    # click strips escape codes from what is not a terminal unless told: --color always means it.
    click.echo(report.colorize_diff(patch) if colored else patch, nl=False, color=colored)
    _summary(run, len(changed), "would be changed")
    sys.exit(2 if (result.errors or run.missing) else (1 if changed else 0))


@main.command()
@_common
@_color_option
@click.option("--interactive", "-i", is_flag=True,
              help="Show each fix as a diff and ask whether to apply it.")
def fix(interactive: bool, **params) -> None:
    """Rewrite files in place. Exit 0: nothing left unfixed, 1: findings left unfixed, 2: error."""
    from codemods import files, interrupts, report

    if interactive and _stdin_mode(params):
        _fail("--interactive reads its answers from stdin: it cannot fix source read from stdin")
    run = _analyse(params, "interactive" if interactive else "write")
    result = run.result
    unsafe = run.options.unsafe_fixes
    if run.options.stdin:
        (outcome,) = result.outcomes
        sys.stdout.buffer.write(outcome.new_data if outcome.changed else outcome.original)
        sys.stdout.flush()
        _summary(run, int(outcome.changed), "fixed")
        left = _unfixed(result.findings, None, unsafe)
        sys.exit(2 if result.errors else (1 if left else 0))
    changed = sorted((o for o in result.outcomes if o.changed and o.new_data is not None),
                     key=lambda o: o.display)
    applied: Optional[set] = None
    if run.options.fix_mode == "interactive":
        plan, applied = _review(changed, _use_color(run.options.color, sys.stdout))
    else:
        plan = [(o, o.new_data) for o in changed]
    written = 0
    write_errors = 0
    try:
        for outcome, data in plan:
            try:
                # A file is written whole or not at all: Ctrl-C waits for the rename.
                with interrupts.deferred():
                    files.write_atomic(outcome.path, data, expected_original=outcome.original)
                    written += 1
            except (files.ReadError, OSError) as exc:
                message = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                click.echo(f"{outcome.display}: error: {message}", err=True)
                write_errors += 1
    except KeyboardInterrupt:
        _interrupted(f": {written:,} of {report.plural(len(plan), 'file')} fixed, "
                     "the others left as they were")
    left = _unfixed(result.findings, applied, unsafe)
    _summary(run, written, "fixed")
    if result.errors or run.missing or write_errors:
        sys.exit(2)
    sys.exit(1 if left else 0)


_PROMPT = "Apply? [y]es, [n]o, [a]ll, [q]uit "


def _review(outcomes: Sequence[FileOutcome],
            color: bool) -> Tuple[List[Tuple[FileOutcome, bytes]], set]:
    """Ask about each fix; return the files to write (with their new bytes) and the edits
    applied. One question per inserted refresh statement: its preview is the diff that edit
    makes (with the imports it needs)."""
    from codemods import report, rewrite

    plan: List[Tuple[FileOutcome, bytes]] = []
    applied: set = set()
    take_all = False
    stdin = click.get_text_stream("stdin")
    echoed = _is_terminal(stdin)

    def ask(findings: Sequence[Finding], preview: str) -> str:
        for finding in findings:
            click.echo(report.finding_line(finding))
        click.echo(report.colorize_diff(preview) if color else preview, nl=False, color=color)
        while True:
            click.echo(_PROMPT, nl=False)
            sys.stdout.flush()
            line = stdin.readline()
            if not echoed:
                click.echo(line.rstrip("\r\n"))  # a terminal echoes the answer; a pipe does not
            if not line:
                return "q"  # end of input: stop asking, keep what was taken
            answer = line.strip().lower()[:1]
            if answer in ("y", "n", "a", "q"):
                return answer
            click.echo("Answer y (apply this fix), n (skip it), a (apply it and every fix after "
                       "it) or q (skip it and every fix after it).")

    for outcome in outcomes:
        edits = outcome.module.edits if outcome.module is not None else ()
        taken: List[Edit] = []
        for edit in edits:
            if not take_all:
                findings = [f for f in outcome.findings if f.fix is not None and f.fix.edit == edit]
                try:
                    preview = rewrite.apply(outcome.old_text, [edit])
                except rewrite.RewriteError:
                    preview = outcome.new_text
                answer = ask(findings, report.text_diff(outcome.display, outcome.old_text, preview))
                if answer == "q":
                    return _finish(plan, outcome, taken, applied), applied
                if answer == "n":
                    continue
                take_all = answer == "a"
            taken.append(edit)
        _finish(plan, outcome, taken, applied)
    return plan, applied


def _finish(plan: List[Tuple[FileOutcome, bytes]], outcome: FileOutcome, taken: Sequence[Edit],
            applied: set) -> List[Tuple[FileOutcome, bytes]]:
    """Add ``outcome`` with the edits ``taken`` to ``plan``."""
    from codemods import files, rewrite

    if not taken:
        return plan
    if outcome.module is not None and tuple(taken) == outcome.module.edits:
        plan.append((outcome, outcome.new_data))  # type: ignore[arg-type]
        applied.update(taken)
        return plan
    try:
        text = rewrite.apply(outcome.old_text, taken)
    except rewrite.RewriteError as exc:  # a bug of ours: never write what does not parse
        click.echo(f"{outcome.display}: error: {exc}", err=True)
        return plan
    applied.update(taken)
    plan.append((outcome, files.encode(files.decode(outcome.path, outcome.original), text)))
    return plan


@main.command()
@_common
@click.option("--name", default=None, metavar="NAME",
              help="The branch to create (default: flushguard/refresh-after-flush).")
@click.option("--base", default="HEAD", show_default=True, metavar="REV",
              help="The revision whose committed files are fixed.")
@click.option("--force", is_flag=True, help="Replace the branch if it exists.")
def branch(name: Optional[str], base: str, force: bool, **params) -> None:
    """Commit the fixes on a new branch; the working tree, the index and HEAD stay as they are.

    Exit 0: committed (or nothing to fix), 1: findings left unfixed, 2: error.
    """
    from codemods import git_branch

    if _stdin_mode(params):
        _fail("branch works on committed files: it cannot read source from stdin")
    name = name if name is not None else git_branch.DEFAULT_NAME
    started = time.perf_counter()
    runs: List[_Run] = []

    def analyse(paths: Sequence[Path], cwd: Path, root: Path):
        # The copy of the revision is thrown away: a cache there would only cost its writing.
        runs.append(_analyse(params, "branch", paths, cwd, root, respect_gitignore=False,
                             cache=params["cache_dir"] is not None))
        return runs[-1].result

    try:
        made = git_branch.commit_fixes(list(params["paths"]), analyse, name, base, force)
    except git_branch.BranchError as exc:
        _fail(str(exc))
    run = _Run(runs[-1].options, made.result, runs[-1].missing, time.perf_counter() - started)
    if made.commit is None:
        click.echo("nothing to fix: no branch created", err=True)
    else:
        click.echo(f"branch: {made.name}")
        click.echo(f"commit: {made.commit}")
        click.echo(f"review: git diff {_shell_word(made.base)}...{_shell_word(made.name)}")
    _summary(run, len(made.paths), "committed")
    left = _unfixed(made.result.findings, None, run.options.unsafe_fixes)
    sys.exit(2 if (made.result.errors or run.missing) else (1 if left else 0))


def _shell_word(text: str) -> str:
    """``text`` as a shell word: revision syntax (``HEAD~1``, ``main@{1}``) stays readable."""
    import re
    import shlex

    return text if re.fullmatch(r"[\w@%+=:,./^{}-][\w@%+=:,./~^{}-]*", text) else shlex.quote(text)


@main.command()
@click.argument("code", required=False)
@click.option("--all", "show_all", is_flag=True, help="Print the documentation of every rule.")
def rule(code: Optional[str], show_all: bool) -> None:
    """Explain a rule (FG001...): what it finds, why it crashes, an example, the fix."""
    from codemods import rules

    if show_all:
        click.echo("\n".join(rules.markdown(r) for r in rules.RULES), nl=False)
        return
    if code is None:
        for r in rules.RULES:
            click.echo(f"{r.code}  {r.name:<36} {r.summary}")
        return
    found = rules.lookup(code)
    if found is None:
        _fail(f"unknown rule '{code}' (rules: {', '.join(r.code for r in rules.RULES)})")
    click.echo(rules.markdown(found), nl=False)


@main.command()
@_common
@click.option("--format", "output_format", type=click.Choice(AUDIT_FORMATS), default=None,
              help="markdown (the default) or json.")
@click.option("--output", "-o", "output", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help="Write the audit to FILE instead of stdout.")
def audit(output: Optional[Path], **params) -> None:
    """Every flush/commit/rollback site, classified, with the models and recommendations.

    Exit 0: written (whatever it found), 2: error.
    """
    from codemods import audit as audit_module
    from codemods import report

    run = _analyse(params, "off")
    result = run.result
    output_format = run.options.format if run.options.format in AUDIT_FORMATS else "markdown"
    if output_format == "json":
        text = audit_module.render_json(result)
    else:
        text = audit_module.render_markdown(result)
    if output is None or str(output) == "-":
        click.echo(text, nl=False)
    else:
        try:
            _write_text(output, text)
        except OSError as exc:
            _fail(f"cannot write {output}: {exc.strerror or exc}")
    if not run.options.quiet:
        sites = [s for o in result.outcomes for s in o.sites]
        unsafe = sum(1 for s in sites if s.category == "unsafe")
        possible = sum(1 for s in sites if s.category == "possible")
        where = f"; written to {output}" if output is not None and str(output) != "-" else ""
        click.echo(f"{report.plural(len(sites), 'site')} in "
                   f"{report.plural(len({s.path for s in sites}), 'file')}: {unsafe:,} unsafe, "
                   f"{possible:,} possible{where} (scanned "
                   f"{report.plural(result.scanned, 'file')} in {run.seconds:.1f} s)", err=True)
    sys.exit(2 if (result.errors or run.missing) else 0)


def _write_text(path: Path, text: str) -> None:
    """``text`` into ``path`` (UTF-8) through a temporary file and a rename: a reader never
    sees half an audit."""
    import tempfile

    folder = path.resolve().parent
    fd, tmp = tempfile.mkstemp(dir=str(folder), prefix=f".{path.name}.", suffix=".flushguard")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class _Progress:
    """A progress bar on a terminal's stderr while a run lasts; nothing at all elsewhere.

    While the engine reads the project's files it reports how many are done, and the bar
    fills; after that (following callers across files) it is an indeterminate one, a block
    moving back and forth, with the time spent. It appears only once a run has lasted
    ``DELAY`` seconds, so quick runs never flicker, and is erased when the run ends.
    """

    DELAY = 0.5
    INTERVAL = 0.1
    WIDTH = 24
    BLOCK = 6

    def __init__(self, stream: Optional[IO], label: str) -> None:
        self.stream = stream
        self.label = label
        self.stop = threading.Event()
        self.thread: Optional[threading.Thread] = None
        self.drawn = False
        self.done = self.total = 0

    def update(self, done: int, total: int) -> None:
        """The engine's report: ``done`` of ``total`` files read (drawn by the bar's thread)."""
        self.done, self.total = done, total

    def __enter__(self) -> "_Progress":
        if self.stream is not None:
            self.started = time.monotonic()
            self.thread = threading.Thread(target=self._loop, name="flushguard-progress",
                                           daemon=True)
            self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.thread is None:
            return
        self.stop.set()
        self.thread.join()
        if self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()

    def _loop(self) -> None:
        if self.stop.wait(self.DELAY):
            return
        tick = 0
        while True:
            span = self.WIDTH - self.BLOCK
            offset = tick % (2 * span)
            offset = offset if offset <= span else 2 * span - offset
            bar = " " * offset + "#" * self.BLOCK + " " * (span - offset)
            counted = ""
            if self.total and self.done < self.total:
                filled = self.WIDTH * self.done // self.total
                bar = "#" * filled + " " * (self.WIDTH - filled)
                counted = f" {self.done:,}/{self.total:,} files"
            elapsed = time.monotonic() - self.started
            self.stream.write(f"\r\x1b[K{self.label} [{bar}]{counted} {elapsed:.1f} s")
            self.stream.flush()
            self.drawn = True
            tick += 1
            if self.stop.wait(self.INTERVAL):
                return

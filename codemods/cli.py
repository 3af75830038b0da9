"""The command line: options into settings, the engine's results out to the terminal.

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
    from codemods.report import Change
    from codemods.types import Finding, Settings

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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="flushguard")
def main() -> None:
    """Find and fix async SQLAlchemy reads that raise MissingGreenlet after flush() and commit()."""


def _fail(message: str) -> NoReturn:
    click.echo(f"flushguard: error: {message}", err=True)
    sys.exit(2)


def _overrides(options: Mapping[str, Any]) -> Dict[str, object]:
    """The settings the command line gives; an option not given is left out."""
    overrides: Dict[str, object] = {}
    if options["backend"] is not None:
        overrides["backend"] = options["backend"]
    if options["sqlalchemy_version"] is not None:
        overrides["sqlalchemy"] = options["sqlalchemy_version"]
    if options["expire_on_commit"] is not None:
        overrides["expire-on-commit"] = options["expire_on_commit"]
    if options["session_name"]:
        overrides["session-name"] = list(options["session_name"])
    if options["select"]:
        overrides["select"] = [c.upper() for c in options["select"]]
    if options["ignore"]:
        overrides["ignore"] = [c.upper() for c in options["ignore"]]
    if options["unsafe_fixes"]:
        overrides["unsafe-fixes"] = True
    if options["jobs"] is not None:
        overrides["jobs"] = options["jobs"]
    return overrides


@dataclass(frozen=True)
class _Run:
    """One analysis as a command sees it."""

    result: RunResult
    #: A PATH did not exist (reported already).
    missing: bool
    seconds: float
    #: The source came from stdin.
    stdin: bool = False


def _stdin_mode(options: Mapping[str, Any]) -> bool:
    paths: Tuple[Path, ...] = options["paths"]
    if Path("-") in paths:
        if len(paths) > 1:
            _fail("'-' (stdin) cannot be combined with other paths")
        return True
    if options["stdin_filename"] is not None and not paths:
        return True  # like ruff: --stdin-filename alone reads stdin
    if options["stdin_filename"] is not None:
        _fail("--stdin-filename is for source on stdin: pass '-' as the only PATH")
    return False


def _discovery(options: Mapping[str, Any], paths: Sequence[Path],
               root: Optional[Path]) -> Dict[str, object]:
    """Which files a run takes: the command line over ``[tool.flushguard]``, loaded here
    because the files must be known before the engine reads the rest of the configuration."""
    from codemods.engine import project_root
    from codemods.settings import ConfigError, find_config, load_config

    config_path: Optional[Path] = options["config_path"]
    config: Mapping[str, object] = {}
    try:
        config_file = config_path or find_config(root or project_root(list(paths)))
        if config_file is not None:
            config = load_config(config_file)
    except ConfigError as exc:
        _fail(str(exc))
    include_generated = options["include_generated"]
    return {
        "exclude": tuple(options["exclude"] or config.get("exclude", ())),
        "extend_exclude": tuple(options["extend_exclude"]
                                or config.get("extend-exclude", ())),
        "include_generated": bool(config.get("include-generated", False)
                                  if include_generated is None else include_generated),
    }


def _analyse(options: Mapping[str, Any], paths: Optional[Sequence[Path]] = None,
             cwd: Optional[Path] = None, root: Optional[Path] = None,
             respect_gitignore: bool = True, cache: bool = True) -> _Run:
    """The shared start of every command: options into a run, bad input reported on stderr.

    ``paths``/``cwd``/``root`` stand in for the command line's paths and the current folder
    (``branch`` analyses a copy of a committed revision).
    """
    from codemods import engine
    from codemods.settings import ConfigError

    started = time.perf_counter()
    overrides = _overrides(options)
    config_path: Optional[Path] = options["config_path"]
    if paths is None and _stdin_mode(options):
        filename = options["stdin_filename"] or Path(DEFAULT_STDIN_FILENAME)
        discovery = _discovery(options, [filename],
                                engine.project_root([Path(os.path.abspath(filename)).parent]))
        data = sys.stdin.buffer.read()
        try:
            result = engine.run_source(data, filename, overrides, config_path, **discovery)
        except ConfigError as exc:
            _fail(str(exc))
        _report_problems(result)
        return _Run(result, False, time.perf_counter() - started, stdin=True)
    given = list(paths if paths is not None else options["paths"]) or [Path(".")]
    missing = [p for p in given if not p.exists()]
    for path in missing:
        click.echo(f"{path}: error: no such file or directory", err=True)
    targets = [p for p in given if p.exists()]
    if not targets:
        sys.exit(2)
    discovery = _discovery(options, targets, root)
    show = not options["quiet"] and not options["no_progress"] and _is_terminal(sys.stderr)
    try:
        with _Progress(sys.stderr if show else None, "flushguard: analysing") as bar:
            result = engine.run(targets, overrides, config_path=config_path, cwd=cwd, root=root,
                                force_exclude=bool(options["force_exclude"]),
                                respect_gitignore=respect_gitignore, progress=bar.update,
                                cache=cache and not options["no_cache"],
                                cache_dir=options["cache_dir"], **discovery)
    except ConfigError as exc:
        _fail(str(exc))
    _report_problems(result)
    return _Run(result, bool(missing), time.perf_counter() - started)


def _report_problems(result: RunResult) -> None:
    for outcome in sorted(result.errors, key=lambda o: o.display):
        click.echo(f"{outcome.display}: error: {outcome.error}", err=True)
    for note in result.notes:
        click.echo(f"note: {note}", err=True)


def _is_terminal(stream: IO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _use_color(choice: Optional[str], settings: Settings, stream: IO) -> bool:
    """``--color`` over ``color =`` in the configuration; ``auto``: a terminal, without NO_COLOR."""
    choice = choice or settings.color or "auto"
    if choice == "auto":
        return _is_terminal(stream) and not os.environ.get("NO_COLOR")
    return choice == "always"


def _unfixed(findings: Sequence[Finding], applied: Optional[set] = None,
             unsafe_fixes: bool = False) -> List[Finding]:
    """Findings no applied fix covers. ``applied`` holds the ``report.fix_id`` of each fix
    taken; None means every fix the run made was taken."""
    from codemods import report

    left = []
    for f in findings:
        if f.fix is None or (f.fix.applicability == "unsafe" and not unsafe_fixes):
            left.append(f)
        elif applied is not None and report.fix_id(f.fix) not in applied:
            left.append(f)
    return left


def _summary(run: _Run, options: Mapping[str, Any], changed: int = 0, verb: str = "") -> None:
    from codemods import report

    if not options["quiet"]:
        click.echo(report.summary_line(run.result, run.seconds, changed, verb), err=True)


@main.command()
@_common
@click.option("--format", "output_format", type=click.Choice(CHECK_FORMATS), default=None,
              help="text (path:line:col: CODE message, the default), json, sarif or github.")
def check(output_format: Optional[str], **options) -> None:
    """List findings. Exit 0: none, 1: findings, 2: error."""
    from codemods import report

    run = _analyse(options)
    result = run.result
    configured = result.settings.format
    output_format = output_format or (configured if configured in CHECK_FORMATS else "text")
    if output_format == "json":
        click.echo(report.render_json(result), nl=False)
    elif output_format == "sarif":
        click.echo(report.render_sarif(result, __version__, report.file_uri(Path.cwd())),
                   nl=False)
    elif output_format == "github":
        click.echo(report.render_github(result.findings), nl=False)
    else:
        click.echo(report.render_text(result.findings), nl=False)
    _summary(run, options)
    sys.exit(2 if (result.errors or run.missing) else (1 if result.findings else 0))


@main.command()
@_common
@_color_option
def diff(color: Optional[str], **options) -> None:
    """Print the fixes as a unified diff. Exit 0: no change, 1: changes, 2: error."""
    from codemods import report

    run = _analyse(options)
    result = run.result
    changed = [o for o in result.outcomes if o.changed]
    patch = report.render_diff(changed)
    colored = _use_color(color, result.settings, sys.stdout)
    # click strips escape codes from what is not a terminal unless told: --color always means it.
    click.echo(report.colorize_diff(patch) if colored else patch, nl=False, color=colored)
    _summary(run, options, len(changed), "would be changed")
    sys.exit(2 if (result.errors or run.missing) else (1 if changed else 0))


@main.command()
@_common
@_color_option
@click.option("--interactive", "-i", is_flag=True,
              help="Show each fix as a diff and ask whether to apply it.")
def fix(color: Optional[str], interactive: bool, **options) -> None:
    """Rewrite files in place. Exit 0: nothing left unfixed, 1: findings left unfixed, 2: error."""
    from codemods import files

    if interactive and _stdin_mode(options):
        _fail("--interactive reads its answers from stdin: it cannot fix source read from stdin")
    run = _analyse(options)
    result = run.result
    unsafe = result.settings.unsafe_fixes
    if run.stdin:
        (outcome,) = result.outcomes
        sys.stdout.buffer.write(outcome.new_data if outcome.changed else outcome.original)
        sys.stdout.flush()
        _summary(run, options, int(outcome.changed), "fixed")
        left = _unfixed(result.findings, None, unsafe)
        sys.exit(2 if result.errors else (1 if left else 0))
    changed = sorted((o for o in result.outcomes if o.changed and o.new_data is not None),
                     key=lambda o: o.display)
    applied: Optional[set] = None
    if interactive:
        plan, applied = _review(changed, _use_color(color, result.settings, sys.stdout))
    else:
        plan = [(o, o.new_data) for o in changed]
    written = 0
    write_errors = 0
    for outcome, data in plan:
        try:
            files.write_atomic(outcome.path, data, expected_original=outcome.original)
            written += 1
        except (files.ReadError, OSError) as exc:
            message = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            click.echo(f"{outcome.display}: error: {message}", err=True)
            write_errors += 1
    left = _unfixed(result.findings, applied, unsafe)
    _summary(run, options, written, "fixed")
    if result.errors or run.missing or write_errors:
        sys.exit(2)
    sys.exit(1 if left else 0)


_PROMPT = "Apply? [y]es, [n]o, [a]ll, [q]uit "


def _review(outcomes: Sequence[FileOutcome],
            color: bool) -> Tuple[List[Tuple[FileOutcome, bytes]], set]:
    """Ask about each fix; return the files to write (with their new bytes) and the
    statements applied. Granularity: one question per inserted refresh statement (the
    imports a file's fixes need go with the first one taken); a file whose change cannot
    be cut into statements is asked about whole."""
    from codemods import report

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
        fixes = {f.fix for f in outcome.findings if f.fix is not None}
        pieces = report.split_changes(outcome.old_text, outcome.new_text, fixes)
        own = [p for p in (pieces or []) if p.fix is not None]
        support = [p for p in (pieces or []) if p.fix is None]
        if own:
            questions = [([f for f in outcome.findings if f.fix is not None
                           and report.fix_id(f.fix) == report.fix_id(p.fix)], [p])
                         for p in own]
        else:
            questions = [(list(outcome.findings), None)]
        taken: List = []
        whole = False
        for findings, piece in questions:
            if not take_all:
                shown = piece if piece is None else piece + (support if not taken else [])
                text = (outcome.new_text if shown is None
                        else report.apply_changes(outcome.old_text, shown))
                answer = ask(findings, report.text_diff(outcome.display, outcome.old_text, text))
                if answer == "q":
                    return _finish(plan, outcome, taken, support, applied), applied
                if answer == "n":
                    continue
                take_all = answer == "a"
            if piece is None:
                whole = True
            else:
                taken.extend(piece)
            applied.update(report.fix_id(f.fix) for f in findings if f.fix is not None)
        if whole:
            plan.append((outcome, outcome.new_data))
        else:
            _finish(plan, outcome, taken, support, applied)
    return plan, applied


def _finish(plan: List[Tuple[FileOutcome, bytes]], outcome: FileOutcome, taken: Sequence[Change],
            support: Sequence[Change], applied: set) -> List[Tuple[FileOutcome, bytes]]:
    """Add ``outcome`` with the pieces ``taken`` (and the imports they need) to ``plan``."""
    from codemods import files, report

    if not taken:
        return plan
    text = report.apply_changes(outcome.old_text, [*taken, *support])
    if text == outcome.new_text:
        plan.append((outcome, outcome.new_data))
        return plan
    import libcst

    try:
        libcst.parse_module(text)
    except libcst.ParserSyntaxError:  # a bug of ours: never write what does not parse
        click.echo(f"{outcome.display}: error: internal error: the chosen fixes would not parse; "
                   "left unchanged", err=True)
        applied.difference_update(report.fix_id(p.fix) for p in taken if p.fix is not None)
        return plan
    plan.append((outcome, files.encode(files.decode(outcome.path, outcome.original), text)))
    return plan


@main.command()
@_common
@click.option("--name", default=None, metavar="NAME",
              help="The branch to create (default: flushguard/refresh-after-flush).")
@click.option("--base", default="HEAD", show_default=True, metavar="REV",
              help="The revision whose committed files are fixed.")
@click.option("--force", is_flag=True, help="Replace the branch if it exists.")
def branch(name: Optional[str], base: str, force: bool, **options) -> None:
    """Commit the fixes on a new branch; the working tree, the index and HEAD stay as they are.

    Exit 0: committed (or nothing to fix), 1: findings left unfixed, 2: error.
    """
    from codemods import git_branch

    if _stdin_mode(options):
        _fail("branch works on committed files: it cannot read source from stdin")
    name = name if name is not None else git_branch.DEFAULT_NAME
    started = time.perf_counter()
    runs: List[_Run] = []

    def analyse(paths: Sequence[Path], cwd: Path, root: Path):
        # The copy of the revision is thrown away: a cache there would only cost its writing.
        runs.append(_analyse(options, paths, cwd, root, respect_gitignore=False,
                             cache=options["cache_dir"] is not None))
        return runs[-1].result

    try:
        made = git_branch.commit_fixes(list(options["paths"]), analyse, name, base, force)
    except git_branch.BranchError as exc:
        _fail(str(exc))
    run = _Run(made.result, runs[-1].missing, time.perf_counter() - started)
    if made.commit is None:
        click.echo("nothing to fix: no branch created", err=True)
    else:
        click.echo(f"branch: {made.name}")
        click.echo(f"commit: {made.commit}")
        click.echo(f"review: git diff {_shell_word(made.base)}...{_shell_word(made.name)}")
    _summary(run, options, len(made.paths), "committed")
    left = _unfixed(made.result.findings, None, made.result.settings.unsafe_fixes)
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
def audit(output_format: Optional[str], output: Optional[Path], **options) -> None:
    """Every flush/commit/rollback site, classified, with the models and recommendations.

    Exit 0: written (whatever it found), 2: error.
    """
    from codemods import audit as audit_module
    from codemods import report

    run = _analyse(options)
    result = run.result
    configured = result.settings.format
    output_format = output_format or (configured if configured in AUDIT_FORMATS else "markdown")
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
    if not options["quiet"]:
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

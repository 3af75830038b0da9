"""Runs the codemod over a project: facts first, then every candidate file.

The engine does the I/O around the pure core: it finds the project root and
its configuration, learns the models from every file that may define one,
reads each candidate file, and returns plain result values.  It never prints
and never writes; the command line decides what to do with the results.
"""

from __future__ import annotations

import os
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from codemods import files
from codemods.cache import Cache, digest, open_cache
from codemods.types import (
    CallFacts,
    ConsumerRead,
    Finding,
    FlushEffect,
    ModelIndex,
    ModuleResult,
    ReturnedState,
    Settings,
    SiteReport,
)


@dataclass(frozen=True)
class FileOutcome:
    """What became of one file: its findings and, when the fix changes it, the new text."""

    path: Path
    display: str
    findings: Tuple[Finding, ...] = ()
    sites: Tuple[SiteReport, ...] = ()
    old_text: str = ""
    new_text: str = ""
    original: bytes = b""
    new_data: Optional[bytes] = None
    error: Optional[str] = None
    #: The core's whole result (cross-function facts included), when the file was analysed.
    module: Optional[ModuleResult] = None

    @property
    def changed(self) -> bool:
        return self.new_data is not None


@dataclass(frozen=True)
class RunResult:
    settings: Settings
    root: Path
    outcomes: Tuple[FileOutcome, ...] = ()
    scanned: int = 0
    models: int = 0
    notes: Tuple[str, ...] = field(default_factory=tuple)
    #: The project's models (what ``audit`` describes); None when the run did not build them.
    index: Optional[ModelIndex] = None

    @property
    def findings(self) -> Tuple[Finding, ...]:
        return tuple(f for o in self.outcomes for f in o.findings)

    @property
    def errors(self) -> Tuple[FileOutcome, ...]:
        return tuple(o for o in self.outcomes if o.error is not None)


ROOT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", "requirements.txt", "alembic.ini", ".git")


def project_root(paths: Sequence[Path]) -> Path:
    """The nearest folder at or above the first path that looks like a project's root."""
    start = (paths[0] if paths else Path.cwd()).resolve()
    if start.is_file():
        start = start.parent
    for folder in [start, *start.parents]:
        if any((folder / marker).exists() for marker in ROOT_MARKERS):
            return folder
    return start


def load_run_settings(root: Path, overrides: Mapping[str, object],
                      config_path: Optional[Path] = None,
                      python_files: Optional[Sequence[Path]] = None,
                      store: Optional[Cache] = None) -> Settings:
    """Project detection < ``[tool.flushguard]`` < command-line options."""
    from codemods.settings import build_settings, find_config, load_config

    config_file = config_path or find_config(root)
    config = load_config(config_file) if config_file is not None else {}
    return build_settings(root, config, overrides, python_files=python_files,
                          memo=(store or Cache.disabled()).memo)


def build_index(root: Path, python_files: Sequence[Path], store: Optional[Cache] = None) -> ModelIndex:
    """Every mapped class among the project's ``python_files``, from their source alone."""
    from codemods.model_index import build_model_index, may_define_models, scan_module

    store = store or Cache.disabled()
    modules = []
    for path in python_files:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if not may_define_models(data):
            continue
        relative = path.relative_to(root).as_posix()
        key = digest("models", relative, data)
        found = store.get(key)
        if found is None:
            import libcst  # only once some file may define a model: start-up stays cheap

            try:
                source = files.decode(path, data)
                if files.too_deeply_nested(source.text):
                    continue  # reported when the file is analysed as a target
                found = scan_module(source.text, relative)
            except (files.ReadError, libcst.ParserSyntaxError, RecursionError):
                continue  # reported when the file is analysed as a target
            store.put(key, found)
        modules.append(found)
    return build_model_index(modules)


def analyze_file(path: Path, root: Path, index: ModelIndex, settings: Settings,
                 display: str, facts: Optional[CallFacts] = None,
                 require_sites: bool = True) -> FileOutcome:
    """Read one file and run the codemod on it. Bad input becomes an error value.

    With ``require_sites`` a file that cannot hold a flush/commit site is not parsed.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        return FileOutcome(path=path, display=display, error=exc.strerror or str(exc))
    if require_sites and not files.may_have_sites(data):
        return FileOutcome(path=path, display=display, original=data)
    import libcst  # only for a file that may hold a site: start-up stays cheap

    from codemods.flush_refresh import analyze_module
    from codemods.model_index import module_name_for

    try:
        source = files.decode(path, data)
    except files.ReadError as exc:
        return FileOutcome(path=path, display=display, error=str(exc), original=data)
    nested = files.too_deeply_nested(source.text)
    if nested:  # LibCST's parser would crash the process on it
        return FileOutcome(path=path, display=display, error=nested, original=data)
    try:
        relative = path.resolve().relative_to(root).as_posix()
    except ValueError:
        relative = path.name
        if Path(os.path.abspath(path)).is_relative_to(root):  # a symlink out of the project
            return FileOutcome(path=path, display=display, original=data,
                               error=f"a symlink to {path.resolve()}, outside the project; not followed")
    try:
        result = analyze_module(source.text, display, index, settings, module_name_for(relative), facts)
        if result.findings or result.changed:
            # The analysis may have parsed an outline, whose stubs hide the rest of the module:
            # a file that is reported on or rewritten must parse whole.
            libcst.parse_module(source.text)
    except libcst.ParserSyntaxError as exc:
        lines = str(exc).strip().splitlines()
        # "tokenizer error: too many indentation levels" says more than "Syntax Error @ 1:1."
        message = next((line for line in lines if line.startswith("tokenizer error:")), lines[0])
        return FileOutcome(path=path, display=display, original=data,
                           error=f"cannot parse: {message} (line {exc.raw_line}, column {exc.raw_column})")
    except RecursionError:
        return FileOutcome(path=path, display=display, original=data, error="too deeply nested to analyse")
    if result.error is not None:  # the fix would not parse (the core checked): a bug of ours
        return FileOutcome(path=path, display=display, original=data, findings=result.findings,
                           error=result.error)
    new_data = files.encode(source, result.new_source) if result.changed else None
    return FileOutcome(
        path=path, display=display, findings=result.findings, sites=result.sites,
        old_text=source.text, new_text=result.new_source, original=data, new_data=new_data,
        module=result,
    )


def build_schemas(root: Path, python_files: Sequence[Path], store: Optional[Cache] = None):
    """The project's pydantic schemas (what a response model reads), from source alone."""
    from codemods.schema_index import build_schema_index, may_define_schemas, scan_schemas

    store = store or Cache.disabled()
    declarations = []
    for path in python_files:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if not may_define_schemas(data):
            continue
        relative = path.relative_to(root).as_posix()
        key = digest("schemas", relative, data)
        found = store.get(key)
        if found is None:
            import libcst

            try:
                found = scan_schemas(files.decode(path, data).text, relative)
            except (files.ReadError, libcst.ParserSyntaxError, RecursionError):
                continue
            store.put(key, found)
        declarations.extend(found)
    return build_schema_index(declarations)


def _cross_facts(outcomes: Sequence[FileOutcome]) -> Tuple[Dict[str, ReturnedState],
                                                           Dict[str, Tuple[FlushEffect, ...]]]:
    returns: Dict[str, ReturnedState] = {}
    flushers: Dict[str, List[FlushEffect]] = {}
    for outcome in outcomes:
        if outcome.module is None:
            continue
        for state in outcome.module.returned:
            known = returns.get(state.via)
            if known is None or state.origin == state.via and known.origin != known.via:
                returns[state.via] = state  # a function's own leftovers win over a callee's
            elif known.origin == state.origin:
                merged = dict(known.attributes)
                for attr, possible in state.attributes:
                    merged[attr] = merged.get(attr, True) and possible
                returns[state.via] = ReturnedState(
                    known.via, known.origin, known.model, tuple(sorted(merged.items())),
                    known.path, known.line, known.is_list)
        for effect in outcome.module.flush_effects:
            flushers.setdefault(effect.function, []).append(effect)
    return returns, {k: tuple(sorted(set(v), key=lambda e: (e.target, e.kind))) for k, v in flushers.items()}


#: What makes a module read through a pydantic schema: a route (its response model or
#: return annotation), ``Schema.model_validate(obj)``, ``Schema.from_orm(obj)``.
_SERIALIZES = re.compile(rb"model_validate\(|from_orm\(|^[ \t]*@[\w.]+\.(?:get|post|put|patch|delete)\(",
                         re.MULTILINE)


class _Callers:
    """Which files may call which functions, from the call names in their text: a method
    call needs ``.name(`` and the class's name in the file, a function call ``name(``.
    Each file's call names are read once per run, whatever the number of rounds."""

    _NAME = re.compile(rb"\b(\w+)\(")
    _METHOD = re.compile(rb"\.(\w+)\(")

    def __init__(self, store: Optional[Cache] = None) -> None:
        self.calls: Dict[Path, Tuple[bytes, frozenset, frozenset]] = {}
        self.store = store or Cache.disabled()

    def _of(self, path: Path) -> Optional[Tuple[bytes, frozenset, frozenset]]:
        found = self.calls.get(path)
        if found is None:
            try:
                data = path.read_bytes()
            except OSError:
                return None
            if b"async def" not in data:
                found = (b"", frozenset(), frozenset())
            else:
                names = self.store.memo(digest("calls", data), lambda: (
                    frozenset(self._METHOD.findall(data)), frozenset(self._NAME.findall(data))))
                found = (data, *names)
            self.calls[path] = found
        return found

    @staticmethod
    def wanted(qualnames: Sequence[str]) -> Dict[bytes, List[Optional[bytes]]]:
        """Call name → the class each is a method of (None: a function)."""
        found: Dict[bytes, List[Optional[bytes]]] = {}
        for qualname in qualnames:
            parts = qualname.split(".")
            owner = parts[-2].encode() if len(parts) >= 2 and parts[-2][:1].isupper() else None
            found.setdefault(parts[-1].encode(), []).append(owner)
        return found

    def may_call_any(self, path: Path, wanted: Mapping[bytes, List[Optional[bytes]]]) -> bool:
        known = self._of(path)
        if known is None or not known[2]:
            return False
        data, methods, names = known
        for name in names & wanted.keys():
            for owner in wanted[name]:
                if owner is None or (name in methods and owner in data):
                    return True
        return False


def run(paths: Sequence[Path], overrides: Mapping[str, object] = {},
        config_path: Optional[Path] = None, exclude: Sequence[str] = (),
        cwd: Optional[Path] = None, root: Optional[Path] = None, *,
        extend_exclude: Sequence[str] = (), include_generated: bool = True,
        respect_gitignore: bool = True, force_exclude: bool = False,
        progress: Optional[Callable[[int, int], None]] = None,
        cache: bool = True, cache_dir: Optional[Path] = None) -> RunResult:
    """Analyse every Python file under ``paths``; results in sorted path order.

    The keyword-only arguments are those of :func:`files.discover`, and ``progress``,
    called with (files done, files in all) while the project's files are first read.

    ``root`` is the project whose models, settings and callers apply (default: found
    from the first path).  The analysis runs in rounds over the project: first every
    file that flushes; then, knowing which functions return objects with unloaded
    attributes and which helpers flush the session they are given, those files and
    every file that calls such a function (their reads are the consumers); last, with
    the consumers known, the files whose functions they read from.  Files are analysed
    in ``settings.jobs`` worker processes (default: every core).

    With ``cache``, what each file taught is kept in ``cache_dir`` (default: the
    project's ``.flushguard_cache``) and an unchanged file is not read as Python again.
    """
    root = (root or project_root(paths)).resolve()
    # One walk of the project serves detection, the indexes and, when the paths
    # are the project itself, the targets.
    discovery = dict(extend_exclude=extend_exclude, include_generated=include_generated,
                     respect_gitignore=respect_gitignore, force_exclude=force_exclude)
    project_files = files.discover([root], exclude, **discovery)
    # What a file says on its own (its models, schemas, session factories), whatever the settings.
    facts_store = open_cache(root, cache_dir, cache, "facts")
    settings = load_run_settings(root, overrides, config_path, project_files, facts_store)
    index = build_index(root, project_files, facts_store)
    # What the analysis found in a file, under these settings and these models.
    results = open_cache(root, cache_dir, cache, digest("analysis", _analysis_settings(settings)))
    scope = digest(_analysis_settings(settings), index)
    if all(p.resolve() == root for p in paths):
        targets = project_files
    else:
        targets = files.discover(paths, exclude, **discovery)
    base = cwd or Path.cwd()
    shown = {path: files.display_path(path, base) for path in set(project_files) | set(targets)}
    pool = _Pool(settings.jobs or os.cpu_count() or 1, root, index, settings)

    def analyse(paths_: Sequence[Path], facts: CallFacts, require_sites: bool,
                report: Optional[Callable[[int, int], None]] = None) -> Dict[Path, FileOutcome]:
        ordered = sorted(paths_)
        context = digest(scope, facts, require_sites)
        done: Dict[Path, FileOutcome] = {}
        todo: List[Tuple[Path, bytes, str]] = []
        for path in ordered:
            try:
                data = path.read_bytes()
            except OSError:
                todo.append((path, b"", ""))  # analyze_file reports it
                continue
            if require_sites and not files.may_have_sites(data):
                done[path] = FileOutcome(path=path, display=shown[path], original=data)
                continue
            key = digest(context, _relative(path, root), shown[path], data) if results.enabled else ""
            hit = results.get(key) if key else None
            if isinstance(hit, ModuleResult):
                done[path] = _outcome_from(path, shown[path], data, hit)
            else:
                todo.append((path, data, key))
        count = len(done)
        if report is not None and count:
            report(count, len(ordered))
        outcomes_ = pool.map([t[0] for t in todo], [shown[t[0]] for t in todo], facts, require_sites)
        for (path, data, key), outcome in zip(todo, outcomes_):
            done[path] = outcome
            if key and outcome.module is not None and outcome.original == data:
                results.put(key, _cached(outcome.module))
            count += 1
            if report is not None:
                report(count, len(ordered))
        return {path: done[path] for path in ordered}

    try:
        outcomes = _rounds(shown, project_files, root, analyse, progress, facts_store)
    finally:
        pool.close()
        facts_store.save()
        results.save()
    results = [outcomes[path] for path in targets]
    notes: List[str] = []
    if settings.backend == "unknown" and any(
            "unknown backend" in f.message for o in results for f in o.findings):
        notes.append("the database backend is unknown, so server defaults are reported as possible: "
                     "set `backend = \"postgresql\"` (or mysql, mariadb, sqlite) under [tool.flushguard] "
                     "in pyproject.toml, or pass --backend")
    results.sort(key=lambda o: o.display)
    return RunResult(settings=settings, root=root, outcomes=tuple(results), scanned=len(targets),
                     models=len(index.models), notes=tuple(notes), index=index)


def _analysis_settings(settings: Settings) -> Settings:
    """The settings without those that change only how results are shown or computed."""
    import dataclasses

    return dataclasses.replace(settings, jobs=None, format=None, color="auto")


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return os.path.abspath(path)


def _cached(module: ModuleResult) -> ModuleResult:
    """What the cache keeps of a result: not a copy of the file's text when nothing changed."""
    import dataclasses

    return module if module.changed else dataclasses.replace(module, new_source="")


def _outcome_from(path: Path, display: str, data: bytes, module: ModuleResult) -> FileOutcome:
    """The outcome of a file whose result came from the cache (the bytes are the same)."""
    import dataclasses

    source = files.decode(path, data)
    if not module.changed:
        module = dataclasses.replace(module, new_source=source.text)
    return FileOutcome(
        path=path, display=display, findings=module.findings, sites=module.sites,
        old_text=source.text, new_text=module.new_source, original=data,
        new_data=files.encode(source, module.new_source) if module.changed else None, module=module,
    )


def _rounds(shown: Mapping[Path, str], project_files: Sequence[Path], root: Path,
            analyse: Callable[..., Dict[Path, FileOutcome]],
            progress: Optional[Callable[[int, int], None]],
            facts_store: Optional[Cache] = None) -> Dict[Path, FileOutcome]:
    """The rounds described in :func:`run`; ``analyse(paths, facts, require_sites)``."""
    # Round 1: every file that may flush, on its own.
    outcomes = analyse(list(shown), CallFacts(), True, progress)
    returns, flushers = _cross_facts(list(outcomes.values()))
    if not (returns or flushers):
        return outcomes
    schemas = build_schemas(root, project_files, facts_store)
    # Round 2, repeated while it learns something: the callers of those functions (a
    # helper that flushes makes its caller's returns unloaded, and so on up), and the
    # files of round 1 that serialize objects through schemas (unknown in round 1).
    changed = set(returns) | set(flushers)
    analysed = {p for p, o in outcomes.items() if o.module is not None}
    relevant = {p for p in analysed if _SERIALIZES.search(outcomes[p].original)}
    callers = _Callers(facts_store)
    for _ in range(4):
        # A changed return or flush effect matters to the files that may call it.
        wanted = callers.wanted(sorted(changed))
        todo = [p for p in outcomes if p in relevant or callers.may_call_any(p, wanted)]
        analysed.update(todo)
        facts = CallFacts(returns=returns, flushers=flushers, schemas=schemas)
        outcomes.update(analyse(todo, facts, False))
        new_returns, new_flushers = _cross_facts(list(outcomes.values()))
        merged_returns = {**returns, **new_returns}
        merged_flushers = {**flushers, **new_flushers}
        changed = {k for k, v in merged_returns.items() if returns.get(k) != v} | \
            {k for k, v in merged_flushers.items() if flushers.get(k) != v}
        returns, flushers = merged_returns, merged_flushers
        if not changed:
            break
        relevant = set()
    consumers: Dict[str, List[ConsumerRead]] = {}
    called = set()
    for outcome in outcomes.values():
        if outcome.module is not None:
            called.update(outcome.module.calls)
            for read in outcome.module.consumer_reads:
                consumers.setdefault(read.origin, []).append(read)
    traced_origins = {returns[v].origin for v in called if v in returns}
    untraced = frozenset(r.origin for r in returns.values()
                         if r.via == r.origin and r.origin not in traced_origins)
    # Round 3: with the consumers known, the files whose functions they read from.
    final = CallFacts(returns=returns, flushers=flushers,
                      consumers={k: tuple(v) for k, v in consumers.items()},
                      untraced=untraced, schemas=schemas)
    origins = set(consumers) | untraced
    outcomes.update(analyse(
        [p for p in analysed if outcomes[p].module is not None
         and any(r.origin in origins for r in outcomes[p].module.returned)], final, False))
    return outcomes


class _Pool:
    """Analyses files in worker processes (the model index and settings go once to each
    worker), or in this process when there is one job or little to do; results come back
    in the order asked, whatever order the workers finish in."""

    SERIAL_BELOW = 16

    def __init__(self, jobs: int, root: Path, index: ModelIndex, settings: Settings) -> None:
        self.jobs, self.root, self.index, self.settings = jobs, root, index, settings
        self.executor = None
        self.rounds = 0

    def map(self, paths: Sequence[Path], displays: Sequence[str], facts: CallFacts,
            require_sites: bool) -> Iterator[FileOutcome]:
        if self.jobs <= 1 or len(paths) < self.SERIAL_BELOW:
            for path, display in zip(paths, displays):
                yield analyze_file(path, self.root, self.index, self.settings, display, facts,
                                   require_sites)
            return
        if self.executor is None:
            from concurrent.futures import ProcessPoolExecutor

            self.executor = ProcessPoolExecutor(
                max_workers=self.jobs, initializer=_worker_init,
                initargs=(self.root, self.index, self.settings))
        chunk = max(1, min(32, len(paths) // (self.jobs * 4)))
        # The round's facts are pickled once here and unpickled once per worker.
        self.rounds += 1
        blob = pickle.dumps(facts, protocol=pickle.HIGHEST_PROTOCOL)
        tasks = [(path, display, self.rounds, blob, require_sites)
                 for path, display in zip(paths, displays)]
        yield from self.executor.map(_worker_task, tasks, chunksize=chunk)

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown()


_WORKER: Dict[str, object] = {}


def _worker_init(root: Path, index: ModelIndex, settings: Settings) -> None:
    _WORKER.update(root=root, index=index, settings=settings)


def _worker_task(task: Tuple[Path, str, int, bytes, bool]) -> FileOutcome:
    path, display, round_, blob, require_sites = task
    if _WORKER.get("round") != round_:
        _WORKER.update(round=round_, facts=pickle.loads(blob))
    return analyze_file(path, _WORKER["root"], _WORKER["index"], _WORKER["settings"],  # type: ignore[arg-type]
                        display, _WORKER["facts"], require_sites)  # type: ignore[arg-type]


def run_source(data: bytes, path: Path, overrides: Mapping[str, object] = {},
               config_path: Optional[Path] = None, exclude: Sequence[str] = (),
               cwd: Optional[Path] = None, *, extend_exclude: Sequence[str] = (),
               include_generated: bool = True, respect_gitignore: bool = True) -> RunResult:
    """Analyse ``data`` as the file at ``path`` (an editor's buffer on stdin); ``path`` is not read.

    The project around ``path`` (or around the current folder) supplies the models and the
    settings, as for a run over files; the model index reads the project's files as they
    are on disk, and the buffer is analysed on its own (no facts from its callers).
    """
    import dataclasses
    import os
    import tempfile

    root = project_root([Path(os.path.abspath(path)).parent]).resolve()
    project_files = files.discover([root], exclude, extend_exclude=extend_exclude,
                                   include_generated=include_generated,
                                   respect_gitignore=respect_gitignore)
    settings = load_run_settings(root, overrides, config_path, project_files)
    display = files.display_path(path, cwd or Path.cwd())
    if not include_generated and files.is_generated(data):
        outcome = FileOutcome(path=path, display=display, original=data)
        return RunResult(settings=settings, root=root, outcomes=(outcome,), scanned=0)
    index = build_index(root, project_files)
    relative = os.path.relpath(os.path.abspath(path), root)
    if relative.startswith(".."):
        relative = path.name
    with tempfile.TemporaryDirectory(prefix="flushguard-stdin-") as folder:
        # Where the module sits in the project decides its name (relative imports).
        copy = Path(folder, relative)
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(data)
        outcome = analyze_file(copy, Path(folder), index, settings, display)
    outcome = dataclasses.replace(outcome, path=path)
    return RunResult(settings=settings, root=root, outcomes=(outcome,), scanned=1,
                     models=len(index.models))

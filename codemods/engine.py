"""Runs the codemod over a project: facts first, then every candidate file.

The engine does the I/O around the pure core: it finds the project root and
its configuration, learns the models from every file that may define one,
reads each candidate file, and returns plain result values.  It never prints
and never writes; the command line decides what to do with the results.
"""

from __future__ import annotations

import ast
import itertools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import (TYPE_CHECKING, Callable, Dict, Iterable, List, Mapping, Optional, Sequence,
                    Set, Tuple)

from codemods import files
from codemods.cache import Cache, digest, open_cache
from codemods.frontend import ParseError
from codemods.analysis import summaries
from codemods.pool import Pool
from codemods.types import (
    CallFacts,
    ConsumerRead,
    Finding,
    FlushEffect,
    ModelIndex,
    ModuleResult,
    ParamReads,
    ParamSummary,
    ReturnedState,
    Settings,
    SiteReport,
)

if TYPE_CHECKING:
    from codemods.options import Options


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


def project_root(paths: Sequence[Path], cwd: Optional[Path] = None) -> Path:
    """The nearest folder at or above the first path that holds one of :data:`ROOT_MARKERS`.

    With no marker above it, the current folder (``cwd``) when the path is inside it, as
    ruff does, so that a file named on its own is read with the models beside it; else the
    path's own folder.
    """
    current = (cwd or Path.cwd()).resolve()
    start = (paths[0] if paths else current).resolve()
    if start.is_file():
        start = start.parent
    for folder in [start, *start.parents]:
        if any((folder / marker).exists() for marker in ROOT_MARKERS):
            return folder
    return current if start.is_relative_to(current) else start


def load_settings(options: Options, python_files: Sequence[Path],
                  store: Optional[Cache] = None) -> Settings:
    """Project detection < ``[tool.flushguard]`` < command-line options: the configuration
    as :func:`codemods.options.load_options` read it, with what the project's files say."""
    from codemods.settings import build_settings

    return build_settings(options.root, options.config, options.overrides,
                          python_files=python_files, memo=(store or Cache.disabled()).memo)


def build_index(root: Path, python_files: Sequence[Path], store: Optional[Cache] = None,
                roots: Tuple[Tuple[str, str], ...] = ()) -> ModelIndex:
    """Every mapped class among the project's ``python_files``, from their source alone;
    modules are named from the package ``roots`` (``Settings.roots``)."""
    from codemods.model_index import (build_model_index, may_define_models, module_name_for,
                                      scan_module)

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
        module = module_name_for(relative, roots)
        key = digest("models", relative, module, data)
        found = store.get(key)
        if found is None:
            try:
                found = scan_module(files.decode(path, data).text, relative, module)
            except (files.ReadError, ParseError, RecursionError):
                continue  # reported when the file is analysed as a target
            store.put(key, found)
        modules.append(found)
    return build_model_index(modules)


#: The IR of the files this process lowered, by the digest of their bytes: rounds and
#: repeated analyses of a file reuse it instead of parsing the text again.
_LOWERED: "Dict[str, object]" = {}
_LOWERED_LIMIT = 2_000


def lowered(data: bytes, text: str, key: Optional[str] = None):
    """The IR of a file's text (:mod:`codemods.analysis.lower`) and its function bodies (lowered
    when first asked for), built once per content (``key``: the digest of ``data``, when the
    caller has it)."""
    from codemods import frontend
    from codemods.analysis.lower import Bodies, lower_module

    key = key or digest("ir", data)
    found = _LOWERED.get(key)
    if found is None:
        bodies = Bodies(text)
        found = (lower_module(frontend.parse(text), text, bodies), bodies)
        if len(_LOWERED) >= _LOWERED_LIMIT:
            _LOWERED.clear()
        _LOWERED[key] = found
    return found


def analyze_file(path: Path, root: Path, index: ModelIndex, settings: Settings,
                 display: str, facts: Optional[CallFacts] = None,
                 require_sites: bool = True) -> FileOutcome:
    """Read one file and analyse it. Bad input becomes an error value.

    With ``require_sites`` a file that cannot hold a flush/commit site is not parsed. The
    fixes are not applied here (see :func:`with_fixes`): a file is analysed once per round.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        return FileOutcome(path=path, display=display, error=exc.strerror or str(exc))
    if require_sites and not files.may_have_sites(data):
        return FileOutcome(path=path, display=display, original=data,
                           error=files.why_unreadable(data))
    from codemods import frontend
    from codemods.analysis import analyze
    from codemods.model_index import module_name_for

    try:
        source = files.decode(path, data)
    except files.ReadError as exc:
        return FileOutcome(path=path, display=display, error=str(exc), original=data)
    try:
        relative = path.resolve().relative_to(root).as_posix()
    except ValueError:
        relative = path.name
        if Path(os.path.abspath(path)).is_relative_to(root):  # a symlink out of the project
            return FileOutcome(path=path, display=display, original=data,
                               error=f"a symlink to {path.resolve()}, outside the project; not followed")
    try:
        key = digest("ir", data)
        module, bodies = lowered(data, source.text, key)
        result = analyze(module, source.text, display, index, settings,
                         module_name_for(relative, settings.roots), facts, key, bodies)
    except frontend.ParseError as exc:
        reason = str(exc) if exc.message.startswith("too deeply nested") else f"cannot parse: {exc}"
        return FileOutcome(path=path, display=display, original=data, error=reason)
    except RecursionError:
        return FileOutcome(path=path, display=display, original=data, error="too deeply nested to analyse")
    return FileOutcome(
        path=path, display=display, findings=result.findings, sites=result.sites,
        old_text=source.text, new_text=source.text, original=data, module=result,
    )


def with_fixes(outcome: FileOutcome, store: Optional[Cache] = None) -> FileOutcome:
    """The outcome with its edits applied: the new text and bytes (or the error, a bug of ours,
    when the fixed text would not parse). ``store`` keeps fixed texts between runs."""
    import dataclasses

    from codemods import rewrite

    module = outcome.module
    if module is None or not module.edits:
        return outcome
    store = store or Cache.disabled()
    try:
        new_text = store.memo(digest("fixed", outcome.original, module.edits),
                              lambda: rewrite.apply(outcome.old_text, module.edits))
    except rewrite.RewriteError as exc:
        return dataclasses.replace(outcome, error=str(exc))
    if new_text == outcome.old_text:
        return outcome
    source = files.decode(outcome.path, outcome.original)
    return dataclasses.replace(outcome, new_text=new_text, new_data=files.encode(source, new_text))


def build_schemas(root: Path, python_files: Sequence[Path], store: Optional[Cache] = None,
                  roots: Tuple[Tuple[str, str], ...] = ()):
    """The project's pydantic schemas (what a response model reads), from source alone."""
    from codemods.model_index import module_name_for
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
        module = module_name_for(relative, roots)
        key = digest("schemas", relative, module, data)
        found = store.get(key)
        if found is None:
            try:
                found = scan_schemas(files.decode(path, data).text, relative, module)
            except (files.ReadError, ParseError, RecursionError):
                continue
            store.put(key, found)
        declarations.extend(found)
    return build_schema_index(declarations)


def _cross_facts(outcomes: Sequence[FileOutcome]) -> Tuple[Dict[str, Tuple[ReturnedState, ...]],
                                                           Dict[str, Tuple[FlushEffect, ...]]]:
    """What the analysed modules say about their functions: what each returns (its return
    statements merged), and which flush the session their callers give them."""
    slots: Dict[str, Dict[Optional[int], Optional[ReturnedState]]] = {}
    flushers: Dict[str, List[FlushEffect]] = {}
    for outcome in outcomes:
        if outcome.module is None:
            continue
        for state in outcome.module.returned:
            slot = slots.setdefault(state.via, {})
            if state.position not in slot:
                slot[state.position] = state
            else:
                known = slot[state.position]
                slot[state.position] = None if known is None else _merge_returned(known, state)
        for effect in outcome.module.flush_effects:
            flushers.setdefault(effect.function, []).append(effect)
    returns = {via: tuple(s for _, s in sorted(slot.items(), key=lambda kv: -1 if kv[0] is None else kv[0])
                          if s is not None)
               for via, slot in slots.items()}
    return ({k: v for k, v in returns.items() if v},
            {k: tuple(sorted(set(v), key=lambda e: (e.target, e.kind))) for k, v in flushers.items()})


def _merge_returned(a: ReturnedState, b: ReturnedState) -> Optional[ReturnedState]:
    """Two return statements of one function: what holds on both (an attribute unloaded on
    either is unloaded); objects of different models are no fact at all (never guess)."""
    if a.model != b.model or a.is_list != b.is_list:
        return None
    unloaded: Dict[Tuple[str, str], bool] = {}
    for attr, possible, origin in (*a.unloaded, *b.unloaded):
        unloaded[(attr, origin)] = unloaded.get((attr, origin), True) and possible
    pending = a.pending and b.pending
    return ReturnedState(
        via=a.via, model=a.model,
        unloaded=tuple(sorted((attr, possible, origin) for (attr, origin), possible in unloaded.items())),
        path=a.path, line=min(a.line, b.line), is_list=a.is_list, position=a.position,
        pending=pending, given=tuple(sorted(set(a.given) & set(b.given))) if pending else (),
        added=a.added and b.added, loaded=tuple(sorted(set(a.loaded) & set(b.loaded))),
        loads_known=a.loads_known and b.loads_known)


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
    _CLASS = re.compile(rb"^[ \t]*class[ \t]+(\w+)[ \t]*\(([^)]*)\)", re.M)
    _BASE = re.compile(rb"(\w+)\s*(?:\[|,|$)")

    def __init__(self, store: Optional[Cache] = None) -> None:
        self.calls: Dict[Path, Tuple[bytes, frozenset, frozenset]] = {}
        self.store = store or Cache.disabled()
        #: Class name → the names of the classes written as its bases, in every file read.
        self.bases: Dict[bytes, Set[bytes]] = {}
        self.owners: Dict[bytes, Set[bytes]] = {}

    def _of(self, path: Path) -> Optional[Tuple[bytes, frozenset, frozenset]]:
        found = self.calls.get(path)
        if found is None:
            try:
                data = path.read_bytes()
            except OSError:
                return None
            for name, bases in self._CLASS.findall(data):
                self.bases.setdefault(name, set()).update(self._BASE.findall(bases.strip()))
            if b"async def" not in data:
                found = (b"", frozenset(), frozenset())
            else:
                names = self.store.memo(digest("calls", data), lambda: (
                    frozenset(self._METHOD.findall(data)), frozenset(self._NAME.findall(data))))
                found = (data, *names)
            self.calls[path] = found
        return found

    def read(self, paths: Iterable[Path]) -> None:
        """Read ``paths`` (their calls and classes) before asking about any of them."""
        for path in paths:
            self._of(path)

    def subclasses(self, owner: bytes) -> Set[bytes]:
        """``owner`` and every class that the files read name it (or one of those) as a base."""
        found = {owner}
        grew = True
        while grew:
            grew = False
            for name, bases in self.bases.items():
                if name not in found and bases & found:
                    found.add(name)
                    grew = True
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
                if owner is None or (name in methods and any(
                        cls in data for cls in self._owners(owner))):
                    return True
        return False

    def _owners(self, owner: bytes) -> Set[bytes]:
        """The class and its subclasses: a caller may call an inherited method on either."""
        found = self.owners.get(owner)
        if found is None:
            found = self.owners[owner] = self.subclasses(owner)
        return found


def tune_gc() -> None:
    """Collect cyclic garbage rarely: a run allocates millions of small acyclic objects (trees,
    IR, facts), and the default thresholds rescan the growing heap again and again (a third
    of a cold run's CPU)."""
    import gc

    gc.set_threshold(100_000, 50, 1_000)


def run(options: Options, progress: Optional[Callable[[int, int], None]] = None) -> RunResult:
    """Analyse every Python file under ``options.paths``; results in sorted path order.

    With ``options.fixes``, each target's edits are applied (``new_text``, ``new_data``):
    what ``diff``, ``fix`` and ``branch`` write; ``check`` and ``audit`` need only the
    findings. ``progress`` is called with (files done, files in all) while the project's
    files are first read.

    ``options.root`` is the project whose models, settings and callers apply.  The analysis
    runs in rounds over the project: first every file that flushes; then, knowing which
    functions return objects with unloaded attributes and which helpers flush the session
    they are given, those files and every file that calls such a function (their reads are
    the consumers); last, with the consumers known, the files whose functions they read
    from.  Files are analysed in ``options.jobs`` worker processes (default: every core).

    With ``options.cache``, what each file taught is kept in ``options.cache_dir`` (default:
    the project's ``.flushguard_cache``) and an unchanged file is not read as Python again.
    Raises :class:`codemods.settings.ConfigError` for a setting the user can fix.
    """
    tune_gc()
    root = options.root
    # One walk of the project serves detection, the indexes and, when the paths
    # are the project itself, the targets.
    project_files = _discover([root], options)
    # What a file says on its own (its models, schemas, session factories), whatever the settings.
    facts_store = open_cache(root, options.cache_dir, options.cache, "facts")
    settings = load_settings(options, project_files, facts_store)
    index = build_index(root, project_files, facts_store, settings.roots)
    # What the analysis found in a file, under these settings and these models.
    analysis_store = open_cache(root, options.cache_dir, options.cache,
                                digest("analysis", _analysis_settings(settings)))
    scope = digest(_analysis_settings(settings), index)
    if all(p.resolve() == root for p in options.paths):
        targets = project_files
    else:
        targets = _discover(options.paths, options)
    base = options.cwd or Path.cwd()
    shown = {path: files.display_path(path, base) for path in set(project_files) | set(targets)}
    pool = Pool(options.jobs or os.cpu_count() or 1, analyze_file, root, index, settings)

    rounds = itertools.count(1)

    def analyse(paths_: Sequence[Path], facts: CallFacts, require_sites: bool,
                report: Optional[Callable[[int, int], None]] = None) -> Dict[Path, FileOutcome]:
        from codemods.analysis.names import FactsView

        ordered = sorted(paths_)
        # A file's result is kept per round and reused while the round's facts answer every
        # question it asked of them the same (ModuleResult.depends): one changed function
        # costs its callers, not the project.
        context = digest(scope, next(rounds), require_sites)
        done: Dict[Path, FileOutcome] = {}
        todo: List[Tuple[Path, bytes, str]] = []
        for path in ordered:
            try:
                data = path.read_bytes()
            except OSError:
                todo.append((path, b"", ""))  # analyze_file reports it
                continue
            if require_sites and not files.may_have_sites(data):
                done[path] = FileOutcome(path=path, display=shown[path], original=data,
                                         error=files.why_unreadable(data))
                continue
            key = digest(context, _relative(path, root), shown[path], data) if analysis_store.enabled else ""
            hit = analysis_store.get(key) if key else None
            if isinstance(hit, ModuleResult) and FactsView.unchanged(dict(hit.depends), facts):
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
                analysis_store.put(key, outcome.module)
            count += 1
            if report is not None:
                report(count, len(ordered))
        return {path: done[path] for path in ordered}

    fixed_store = analysis_store
    try:
        outcomes = _rounds(shown, project_files, root, analyse, progress, facts_store,
                           settings.roots)
        results = [with_fixes(outcomes[path], fixed_store) if options.fixes else outcomes[path]
                   for path in targets]
    finally:
        pool.close()
        facts_store.save()
        fixed_store.save()
    notes: List[str] = []
    if settings.backend == "unknown" and any(
            c.backend_unknown for o in results for f in o.findings for _, c in f.causes):
        notes.append("the database backend is unknown, so server defaults are reported as possible: "
                     "set `backend = \"postgresql\"` (or mysql, mariadb, sqlite) under [tool.flushguard] "
                     "in pyproject.toml, or pass --backend")
    results.sort(key=lambda o: o.display)
    return RunResult(settings=settings, root=root, outcomes=tuple(results), scanned=len(targets),
                     models=len(index.models), notes=tuple(notes), index=index)


def _discover(paths: Sequence[Path], options: Options) -> List[Path]:
    """The Python files under ``paths`` that the options take."""
    return files.discover(paths, options.exclude, extend_exclude=options.extend_exclude,
                          include_generated=options.include_generated,
                          respect_gitignore=options.respect_gitignore,
                          force_exclude=options.force_exclude)


def _analysis_settings(settings: Settings) -> Settings:
    """The settings without those that change only how results are shown or computed."""
    import dataclasses

    return dataclasses.replace(settings, jobs=None, format=None, color="auto")


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return os.path.abspath(path)


def _outcome_from(path: Path, display: str, data: bytes, module: ModuleResult) -> FileOutcome:
    """The outcome of a file whose result came from the cache (the bytes are the same)."""
    source = files.decode(path, data)
    return FileOutcome(
        path=path, display=display, findings=module.findings, sites=module.sites,
        old_text=source.text, new_text=source.text, original=data, module=module,
    )


#: At most this many rounds after the first: facts travel up one call level a round.
MAX_ROUNDS = 6


def _rounds(shown: Mapping[Path, str], project_files: Sequence[Path], root: Path,
            analyse: Callable[..., Dict[Path, FileOutcome]],
            progress: Optional[Callable[[int, int], None]],
            facts_store: Optional[Cache] = None,
            roots: Tuple[Tuple[str, str], ...] = ()) -> Dict[Path, FileOutcome]:
    """The rounds described in :func:`run`; ``analyse(paths, facts, require_sites)``."""
    # Round 1: every file that may flush, on its own.
    outcomes = analyse(list(shown), CallFacts(), True, progress)
    returns, flushers = _cross_facts(list(outcomes.values()))
    modules = _ModuleFiles(shown, root, roots)
    asked: Set[str] = set()
    params = _ParamFacts()
    aliases = _aliases(outcomes.values(), modules.reexports(facts_store))
    hierarchy = _Hierarchy()
    hierarchy.learn(outcomes.values())
    demand = modules.files_of(_unresolved(outcomes.values(), returns, asked, aliases,
                                          hierarchy.inherited) |
                              params.learn(outcomes.values()))
    if not (returns or flushers or demand):
        return outcomes
    schemas = build_schemas(root, project_files, facts_store, roots)
    schemas_key = digest(schemas)
    # Then, while something is learnt: the callers of functions whose facts changed (a helper
    # that flushes makes its caller's returns unloaded, and so on up), the files that define
    # functions whose results a caller could not type, and (once) the files that serialize
    # objects through schemas (unknown in round 1).
    changed = set(returns) | set(flushers)
    analysed = {p for p, o in outcomes.items() if o.module is not None}
    relevant = {p for p in analysed if _SERIALIZES.search(outcomes[p].original)}
    callers = _Callers(facts_store)
    callers.read(outcomes)
    for _ in range(MAX_ROUNDS):
        names = callers.wanted(sorted(_through_instances(changed, aliases)))
        todo = sorted(p for p in outcomes if p in relevant or p in demand
                      or callers.may_call_any(p, names))
        analysed.update(todo)
        facts = CallFacts(returns=returns, flushers=flushers, schemas=schemas,
                          schemas_key=schemas_key, wanted=frozenset(asked),
                          param_reads=params.reads, params_wanted=frozenset(params.asked),
                          aliases=aliases, inherited=hierarchy.inherited,
                          returns_arg=hierarchy.returns_arg)
        outcomes.update(analyse(todo, facts, False))
        new_returns, new_flushers = _cross_facts(list(outcomes.values()))
        merged_returns = {**returns, **new_returns}
        merged_flushers = {**flushers, **new_flushers}
        known_reads = params.reads
        asking = params.learn(outcomes.values())
        changed = {k for k, v in merged_returns.items() if returns.get(k) != v} | \
            {k for k, v in merged_flushers.items() if flushers.get(k) != v} | \
            {k for k, v in params.reads.items() if known_reads.get(k) != v}
        returns, flushers = merged_returns, merged_flushers
        known_aliases = aliases
        aliases = _aliases(outcomes.values(), aliases)
        if aliases != known_aliases:  # callers resolve instances' methods differently now
            changed |= {k for k in aliases if known_aliases.get(k) != aliases[k]}
        changed |= hierarchy.learn(outcomes.values())
        demand = modules.files_of(_unresolved(outcomes.values(), returns, asked, aliases,
                                              hierarchy.inherited) | asking)
        if not changed and not demand:
            break
        relevant = set()
    consumers: Dict[str, List[ConsumerRead]] = {}
    called = set()
    for outcome in outcomes.values():
        if outcome.module is not None:
            called.update(outcome.module.calls)
            for read in outcome.module.consumer_reads:
                consumers.setdefault(read.origin, []).append(read)
    traced = {o for v in called for s in returns.get(v, ()) for o in s.origins}
    untraced = frozenset(v for v, states in returns.items()
                         if any(v in s.origins for s in states) and v not in traced)
    # Last: with the consumers known, the files whose functions they read from.
    final = CallFacts(returns=returns, flushers=flushers,
                      consumers={k: tuple(v) for k, v in consumers.items()},
                      untraced=untraced, schemas=schemas, schemas_key=schemas_key,
                      wanted=frozenset(asked), param_reads=params.reads,
                      params_wanted=frozenset(params.asked), aliases=aliases,
                      inherited=hierarchy.inherited, returns_arg=hierarchy.returns_arg)
    origins = set(consumers) | untraced
    outcomes.update(analyse(
        [p for p in analysed if outcomes[p].module is not None
         and any(o in origins for r in outcomes[p].module.returned for o in r.origins)], final, False))
    return outcomes


def _unresolved(outcomes: Iterable[FileOutcome], returns: Mapping[str, object],
                asked: Set[str], aliases: Mapping[str, str] = {},
                inherited: Mapping[str, str] = {}) -> Set[str]:
    """The project functions whose results a caller could not type and nobody asked about yet
    (added to ``asked``), a module-level instance's method as its class's, an inherited
    method as the base class's."""
    called = {callee for outcome in outcomes if outcome.module is not None
              for callee in outcome.module.unresolved_calls}
    called |= {inherited.get(c, c) for c in (_canonical(callee, aliases) for callee in called | asked)}
    new = {callee for callee in called if callee not in returns and callee not in asked}
    asked |= new
    return new


def _canonical(qualname: str, aliases: Mapping[str, str]) -> str:
    owner, _, method = qualname.rpartition(".")
    return f"{aliases[owner]}.{method}" if owner in aliases else qualname


def _aliases(outcomes: Iterable[FileOutcome], known: Mapping[str, str]) -> Dict[str, str]:
    """The module-level instances the analysed modules define (name → class), added to ``known``."""
    found = dict(known)
    for outcome in outcomes:
        if outcome.module is not None:
            found.update(outcome.module.instances)
    return found


def _through_instances(qualnames: Iterable[str], aliases: Mapping[str, str]) -> Set[str]:
    """``qualnames`` and, for a class's method, the same method through each module-level
    instance of the class (``pkg.svc.OrganizationService.get`` → ``pkg.svc.organization.get``):
    how callers write the call."""
    by_class: Dict[str, List[str]] = {}
    for instance, cls in aliases.items():
        by_class.setdefault(cls, []).append(instance)
    found = set(qualnames)
    for qualname in qualnames:
        owner, _, method = qualname.rpartition(".")
        found.update(f"{instance}.{method}" for instance in by_class.get(owner, ()))
    return found


class _Hierarchy:
    """The classes the analysed modules define, with their bases and methods: which class's
    method a caller of an inherited one reaches; and the functions that return a parameter."""

    def __init__(self) -> None:
        self.classes: Dict[str, Tuple[Tuple[str, ...], Tuple[str, ...]]] = {}
        self.inherited: Dict[str, str] = {}
        self.returns_arg: Dict[str, Tuple[Optional[int], str]] = {}

    def learn(self, outcomes: Iterable[FileOutcome]) -> Set[str]:
        """Take what ``outcomes`` say; the qualnames whose answer changed."""
        returned_before = dict(self.returns_arg)
        for outcome in outcomes:
            if outcome.module is None:
                continue
            for qualname, bases, methods in outcome.module.classes:
                self.classes[qualname] = (bases, methods)
            for qualname, position, name in outcome.module.returns_arg:
                self.returns_arg[qualname] = (position, name)
        before = self.inherited
        self.inherited = {}
        for qualname, (_, own) in self.classes.items():
            for ancestor in self._ancestors(qualname):
                for method in self.classes[ancestor][1]:
                    if method not in own:
                        self.inherited.setdefault(f"{qualname}.{method}", f"{ancestor}.{method}")
        changed = {k for k in self.inherited.keys() | before.keys()
                   if before.get(k) != self.inherited.get(k)}
        return changed | {k for k, v in self.returns_arg.items() if returned_before.get(k) != v}

    def _ancestors(self, qualname: str) -> List[str]:
        """The known base classes, depth first, left to right (each once): the order in which
        Python looks a method up, for the hierarchies applications write."""
        found: List[str] = []
        pending = list(self.classes[qualname][0])
        while pending:
            base = pending.pop(0)
            if base in found or base == qualname or base not in self.classes:
                continue
            found.append(base)
            pending[:0] = list(self.classes[base][0])
        return found


class _ParamFacts:
    """What the project's functions read of their parameters, as far as callers asked: the
    summaries the modules gave (:mod:`codemods.analysis.summaries`), closed over the calls
    that pass a parameter on."""

    def __init__(self) -> None:
        self.asked: Set[str] = set()
        self.summaries: Dict[str, ParamSummary] = {}
        self.reads: Dict[str, Tuple[ParamReads, ...]] = {}

    def learn(self, outcomes: Iterable[FileOutcome]) -> Set[str]:
        """Take the summaries and questions of ``outcomes``; the functions newly asked about."""
        wanted: Set[str] = set()
        for outcome in outcomes:
            if outcome.module is None:
                continue
            for summary in outcome.module.param_summaries:
                self.summaries[summary.function] = summary
            wanted.update(outcome.module.unresolved_params)
        self.reads, missing = summaries.close(self.summaries)
        new = (wanted | missing) - self.asked
        self.asked |= new
        return new


def _imports_of(module: str, data: bytes) -> Dict[str, str]:
    """The names a package's ``__init__.py`` binds by its module-level imports (name →
    qualified name); nothing when it cannot be read."""
    from codemods import frontend
    from codemods.imports import record_ast_import

    bound: Dict[str, str] = {}
    try:
        tree = frontend.parse(files.decode(Path("__init__.py"), data).text)
    except (frontend.ParseError, files.ReadError):
        return bound  # the analysis reports what it cannot read
    for stmt in tree.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            record_ast_import(bound, stmt, module, True)
    return bound


class _ModuleFiles:
    """Which project file defines a module, by the module names the analysis gives files."""

    def __init__(self, shown: Iterable[Path], root: Path, roots: Sequence[str] = ()) -> None:
        from codemods.model_index import module_name_for

        self.files: Dict[str, Path] = {}
        for path in shown:
            self.files.setdefault(module_name_for(_relative(path, root), roots), path)

    def reexports(self, store: Optional[Cache] = None) -> Dict[str, str]:
        """What each package's ``__init__.py`` imports from the project's own modules, by the
        name callers write (``app.repositories.UserRepository`` →
        ``app.repositories.user.UserRepository``): a method called through the package's name is
        the defining class's. ``store`` keeps each file's answer by its bytes."""
        found: Dict[str, str] = {}
        store = store or Cache.disabled()
        for module, path in self.files.items():
            if path.name != "__init__.py":
                continue
            try:
                data = path.read_bytes()
            except OSError:
                continue  # the analysis reports what it cannot read
            bound = store.memo(digest("reexports", module, data), lambda: _imports_of(module, data))
            top = module.partition(".")[0]
            found.update((f"{module}.{name}", target) for name, target in bound.items()
                         if target.partition(".")[0] == top and target != f"{module}.{name}")
        return found

    def files_of(self, qualnames: Iterable[str]) -> Set[Path]:
        """The files defining the modules of ``qualnames`` (``a.b.C.m``: the file of ``a.b``)."""
        found: Set[Path] = set()
        for qualname in qualnames:
            parts = qualname.split(".")
            for end in range(len(parts) - 1, 0, -1):
                path = self.files.get(".".join(parts[:end]))
                if path is not None:
                    found.add(path)
                    break
        return found


def run_source(data: bytes, options: Options) -> RunResult:
    """Analyse ``data`` as the file at ``options.paths[0]`` (an editor's buffer on stdin); that
    path is not read.

    The project around it (``options.root``) supplies the models and the settings, as for a
    run over files; the model index reads the project's files as they are on disk, and the
    buffer is analysed on its own (no facts from its callers).
    """
    import dataclasses
    import os
    import tempfile

    (path,) = options.paths
    root = options.root
    project_files = _discover([root], options)
    settings = load_settings(options, project_files)
    display = files.display_path(path, options.cwd or Path.cwd())
    if not options.include_generated and files.is_generated(data):
        outcome = FileOutcome(path=path, display=display, original=data)
        return RunResult(settings=settings, root=root, outcomes=(outcome,), scanned=0)
    index = build_index(root, project_files, roots=settings.roots)
    relative = os.path.relpath(os.path.abspath(path), root)
    if relative.startswith(".."):
        relative = path.name
    with tempfile.TemporaryDirectory(prefix="flushguard-stdin-") as folder:
        # Where the module sits in the project decides its name (relative imports).
        copy = Path(folder, relative)
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(data)
        outcome = with_fixes(analyze_file(copy, Path(folder), index, settings, display))
    outcome = dataclasses.replace(outcome, path=path)
    return RunResult(settings=settings, root=root, outcomes=(outcome,), scanned=1,
                     models=len(index.models))

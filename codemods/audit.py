"""The audit: every flush, commit, rollback and expire site of a run, classified, as a document.

This is the document engineers otherwise write by hand after a MissingGreenlet: how many
sites there are, what each one is (a refresh follows; only the primary key is read; nothing
is read; ...), which ones crash and who reads what there, which attributes each model
leaves unloaded after a flush on *this* project's backend and SQLAlchemy version, and what
to do about it.

Pure: :func:`build_audit` turns a :class:`~codemods.engine.RunResult` into an :class:`Audit`
value, and the renderers turn that into Markdown or JSON text. Nothing here reads, writes
or prints; the same input always gives the same text (no dates, sorted everything). The
audit never analyses anything itself: its sites and findings are the run's, so it cannot
disagree with ``check``.
"""

from __future__ import annotations

import json
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from codemods.analysis import orm_rules
from codemods.engine import FileOutcome, RunResult
from codemods.project import is_test_path
from codemods.report import finding_json
from codemods.types import (
    ColumnFacts,
    Finding,
    ModelFacts,
    ModelIndex,
    RelationshipFacts,
    Settings,
    SiteReport,
)

#: The site categories, in the order tables list them: safe ones, risky ones, unknown.
CATEGORIES: Tuple[str, ...] = (
    "refresh-follows",
    "pk-only",
    "no-reads",
    "loaded-reads-only",
    "consumers-safe",
    "core-statements",
    "no-objects",
    "unsafe",
    "possible",
    "untracked",
)

CATEGORY_MEANINGS: Mapping[str, str] = {
    "refresh-follows": "a refresh after the site reloads what is read",
    "pk-only": "only the primary key is read afterwards",
    "no-reads": "nothing of its objects is read afterwards",
    "loaded-reads-only": "only attributes the site leaves loaded are read afterwards",
    "consumers-safe": "its objects leave the function; their consumers read only loaded attributes",
    "unsafe": "an unloaded attribute is read afterwards: MissingGreenlet",
    "possible": "a read that depends on what the source cannot show (backend, session state)",
    "core-statements": "its session ran Core update()/delete()/insert() statements, no ORM object",
    "no-objects": "its function holds no ORM object across it (a dependency's commit, a helper's)",
    "untracked": "a value used after it may be an ORM object that could not be tied to a model: "
                 "not guessed (the site names it)",
}

RISKY: Tuple[str, ...] = ("unsafe", "possible")
KINDS: Tuple[str, ...] = ("flush", "commit", "rollback", "expire")

#: Attribute states after a flush: loaded, unloaded, possibly unloaded (depends on what the
#: source cannot show), or never loaded implicitly at all (``lazy="raise"``, ``"dynamic"``...).
LOADED = orm_rules.LOADED
UNLOADED = orm_rules.UNLOADED
POSSIBLE = orm_rules.POSSIBLE
NEVER_LOADS = "never-loads"


# --------------------------------------------------------------------------
# The audit as a value
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditSite:
    """One site with the findings it causes (findings link to it by path and site line)."""

    path: str
    line: int
    kind: str
    session: str
    function: str
    objects: Tuple[str, ...]
    models: Tuple[str, ...]
    category: str
    #: Attributes of its objects read after it.
    reads: Tuple[str, ...]
    #: In a test suite (``tests/``, ``test_*.py``, ``conftest.py``...), not application code.
    test: bool
    findings: Tuple[Finding, ...] = ()
    #: The project helper whose call is the site (it flushes/commits this session), if any.
    via: Optional[str] = None
    #: Rebuilt from findings whose site the analysis did not report (should never happen:
    #: the consistency test fails when it does, but the audit never drops a finding).
    derived: bool = False
    #: An untracked site's values that may be ORM objects of no known model, and what each is.
    unresolved: Tuple[str, ...] = ()


@dataclass(frozen=True)
class State:
    """What a flush leaves of one attribute, and why."""

    status: str
    why: str = ""


@dataclass(frozen=True)
class AttributeRisk:
    """One attribute of a model that a flush may leave unloaded, on this project's settings."""

    name: str
    #: ``column``, ``deferred column``, ``column_property``, or the relationship's shape,
    #: target and strategy (``collection of Role, lazy="select"``).
    kind: str
    insert: State
    update: State


@dataclass(frozen=True)
class ModelAudit:
    name: str
    qualname: str
    path: str
    line: int
    #: Only attributes that are not plainly loaded after every flush (server-generated,
    #: onupdate, deferred, column_property, relationships); ordinary columns, enums
    #: included, never appear: a flush loads the values the code gave.
    attributes: Tuple[AttributeRisk, ...]
    relationships: Tuple[RelationshipFacts, ...]


@dataclass(frozen=True)
class Audit:
    project: str
    sites: Tuple[AuditSite, ...]
    models: Tuple[ModelAudit, ...]
    settings: Settings
    #: Markdown sentences, most urgent first.
    recommendations: Tuple[str, ...]
    files_scanned: int
    errors: Tuple[Tuple[str, str], ...]
    #: The run built no model index (source on stdin): the models table cannot be shown.
    models_known: bool = True

    @property
    def findings(self) -> Tuple[Finding, ...]:
        return tuple(f for s in self.sites for f in s.findings)

    def part(self, test: bool) -> Tuple[AuditSite, ...]:
        return tuple(s for s in self.sites if s.test == test)


def build_audit(result: RunResult) -> Audit:
    """The audit of ``result``: its sites in path and line order, each with its findings."""
    sites: List[AuditSite] = []
    for outcome in result.outcomes:
        sites.extend(_outcome_sites(outcome, _is_test(outcome, result.root)))
    sites.sort(key=lambda s: (s.path, s.line, KINDS.index(s.kind) if s.kind in KINDS else 9))
    index = result.index
    models = tuple(model_audit(m, result.settings)
                   for m in sorted(index.models, key=lambda m: (m.name, m.qualname))) \
        if index is not None else ()
    errors = tuple(sorted((o.display, o.error) for o in result.errors if o.error is not None))
    audit = Audit(
        project=result.root.name,
        sites=tuple(sites),
        models=models,
        settings=result.settings,
        recommendations=(),
        files_scanned=result.scanned,
        errors=errors,
        models_known=index is not None,
    )
    return _with_recommendations(audit, index or ModelIndex())


def _is_test(outcome: FileOutcome, root: Path) -> bool:
    try:
        relative = PurePosixPath(outcome.path.resolve().relative_to(root.resolve()).as_posix())
    except ValueError:
        relative = PurePosixPath(outcome.display)
    return is_test_path(relative)


def _outcome_sites(outcome: FileOutcome, test: bool) -> List[AuditSite]:
    by_site: Dict[Tuple[int, str], List[Finding]] = {}
    for finding in sorted(outcome.findings, key=lambda f: f.sort_key):
        by_site.setdefault((finding.site.line, finding.site.kind), []).append(finding)
    out: List[AuditSite] = []
    for report in outcome.sites:
        findings = by_site.pop((report.line, report.kind), [])
        out.append(_site(report, test, findings))
    for (line, kind), findings in sorted(by_site.items()):
        # A site on the same line under another kind (`await s.flush(); await s.commit()`).
        same_line = [i for i, s in enumerate(out) if s.line == line and not s.derived]
        if same_line:
            i = same_line[0]
            merged = tuple(sorted(out[i].findings + tuple(findings), key=lambda f: f.sort_key))
            out[i] = _replace_findings(out[i], merged)
            continue
        first = findings[0]
        out.append(AuditSite(
            path=first.path, line=line, kind=kind, session=first.site.session,
            function=first.function, objects=tuple(sorted({f.object for f in findings})),
            models=tuple(sorted({f.model for f in findings})),
            category="unsafe" if any(f.certainty == "certain" for f in findings) else "possible",
            reads=tuple(sorted({a for f in findings for a in f.attributes})), test=test,
            findings=tuple(findings), derived=True,
        ))
    return out


def _site(report: SiteReport, test: bool, findings: Sequence[Finding]) -> AuditSite:
    return AuditSite(
        path=report.path, line=report.line, kind=report.kind, session=report.session,
        function=report.function, objects=report.objects, models=report.models,
        category=report.category, reads=report.reads,
        test=test, findings=tuple(findings), via=report.via, unresolved=report.unresolved,
    )


def _replace_findings(site: AuditSite, findings: Tuple[Finding, ...]) -> AuditSite:
    from dataclasses import replace

    return replace(site, findings=findings)


# --------------------------------------------------------------------------
# Models: what a flush leaves unloaded, on this project's backend and version
# --------------------------------------------------------------------------


def model_audit(model: ModelFacts, settings: Settings) -> ModelAudit:
    """Which attributes of ``model`` a flush leaves unloaded after an INSERT and an UPDATE.

    Follows the measured rules of ``docs/semantics.md#i-after-an-insert-flush`` (INSERT) and
    ``docs/semantics.md#u-after-an-update-flush`` (UPDATE): what the code gave a value to is
    loaded after an INSERT whatever this says; only the attributes whose state depends on the
    flush are listed.
    """
    rows: List[AttributeRisk] = []
    for column in model.columns:
        if column.primary_key:
            continue
        if column.deferred:
            rows.append(AttributeRisk(
                column.name, "deferred column",
                State(UNLOADED, "deferred: a new object has it only when the code gives it"),
                State(UNLOADED, "deferred: loaded only when read, unless the query undeferred it"),
            ))
            continue
        insert = _insert_state(model, column, settings)
        update = _update_state(model, column, settings)
        if insert is None and update is None:
            continue
        rows.append(AttributeRisk(column.name, "column", insert or State(LOADED),
                                  update or State(LOADED)))
    for expression in model.expressions:
        update = (State(UNLOADED, "column_property: the UPDATE expires it")
                  if expression.expire_on_flush else
                  State(LOADED, "column_property(expire_on_flush=False) keeps its old value"))
        rows.append(AttributeRisk(expression.name, "column_property",
                                  State(UNLOADED, "column_property: an INSERT never loads it"),
                                  update))
    for relationship in model.relationships:
        rows.append(_relationship_risk(relationship))
    return ModelAudit(name=model.name, qualname=model.qualname, path=model.path, line=model.line,
                      attributes=tuple(rows), relationships=model.relationships)


def _insert_state(model: ModelFacts, column: ColumnFacts, settings: Settings) -> Optional[State]:
    """A value the server generates at INSERT (docs/semantics.md#i2-server-generated-values);
    None for a column no INSERT leaves unloaded."""
    what = orm_rules.generated_at_insert(column)
    if what is None:
        return None
    return _fetch_state(what, orm_rules.insert_fetch(model, column, settings), settings)


def _update_state(model: ModelFacts, column: ColumnFacts, settings: Settings) -> Optional[State]:
    """A value the server computes at UPDATE (docs/semantics.md#u2-values-computed-by-the-update);
    None for a column an UPDATE leaves loaded (a Python ``onupdate`` is computed on the object)."""
    what = orm_rules.generated_at_update(column)
    if what is None:
        return None
    return _fetch_state(what, orm_rules.update_fetch(model, column, settings), settings)


def _fetch_state(what: str, fetch: orm_rules.Fetch, settings: Settings) -> State:
    phrase = orm_rules.FETCH_RULES[fetch.rule][1].format(backend=settings.backend)
    return State(fetch.status, f"{what}{phrase}")


def relationship_shape(relationship: RelationshipFacts) -> str:
    """``collection``, ``many-to-one`` or ``scalar``."""
    if relationship.collection:
        return "collection"
    return "many-to-one" if relationship.many_to_one else "scalar"


def relationship_kind(relationship: RelationshipFacts) -> str:
    """``collection of Role, lazy="select"`` and the like."""
    shape = relationship_shape(relationship)
    target = relationship.target or "?"
    link = "of" if shape == "collection" else "to"
    return f'{shape} {link} {target}, lazy="{relationship.lazy}"'


def _relationship_risk(relationship: RelationshipFacts) -> AttributeRisk:
    """A flush never loads a relationship the code did not assign
    (``docs/semantics.md#l1-a-new-objects-relationships``,
    ``docs/semantics.md#l3-relationships-of-loaded-objects``)."""
    lazy = relationship.lazy
    kind = relationship_kind(relationship)
    if lazy in orm_rules.NEVER_LOADING_LAZY:
        never = State(NEVER_LOADS, "a read never loads it implicitly "
                                   + ("(it raises InvalidRequestError)" if lazy == "raise"
                                      else "(no SQL on attribute access)"))
        return AttributeRisk(relationship.name, kind, never, never)
    if lazy == "raise_on_sql":
        state = State(NEVER_LOADS, "raises InvalidRequestError instead of loading "
                                   "(MissingGreenlet once the object is expired)")
        return AttributeRisk(relationship.name, kind, state, state)
    many_to_one = relationship_shape(relationship) == "many-to-one"
    if many_to_one:
        insert = State(POSSIBLE, "unless assigned, it loads by its foreign key unless the target "
                                 "is already in the session (None while the key is unset)")
    else:
        insert = State(UNLOADED, "a new object has it only when assigned before the flush")
    if lazy in orm_rules.EAGER_LAZY:
        update = State(LOADED, f"lazy={lazy} loads it with the queried object")
    elif many_to_one:
        update = State(POSSIBLE, "loads unless the query loaded it or the target is already in "
                                 "the session")
    else:
        update = State(UNLOADED, "loaded only by a loader option (selectinload) or a refresh "
                                 "naming it")
    return AttributeRisk(relationship.name, kind, insert, update)


# --------------------------------------------------------------------------
# Recommendations: derived from the findings
# --------------------------------------------------------------------------


def _cause(finding: Finding, attribute: str) -> str:
    """Why ``attribute`` was unloaded at the finding's site: ``expired`` (commit, rollback,
    expire), ``update`` (onupdate/server_onupdate), ``insert`` (server-generated at INSERT),
    ``relationship`` or ``other`` (column_property, deferred, SQL-expression assignment)."""
    cause = finding.cause_of(attribute)
    if cause is not None and cause.kind in ("expired", "update", "insert", "relationship"):
        return cause.kind
    return "other"


def _model_for(index: ModelIndex, name: str, attributes: Iterable[str]) -> Optional[ModelFacts]:
    candidates = index.by_name(name)
    wanted = list(attributes)
    for model in candidates:
        if all(model.has_attribute(a) for a in wanted):
            return model
    return candidates[0] if candidates else None


def _names(items: Iterable[str], limit: int = 6) -> str:
    """```a`, `b` and `c``` (at most ``limit`` named, then "and N more")."""
    unique = sorted(set(items))
    shown = [f"`{item}`" for item in unique[:limit]]
    if len(unique) > limit:
        shown.append(f"{len(unique) - limit} more")
    if len(shown) <= 1:
        return "".join(shown)
    return ", ".join(shown[:-1]) + " and " + shown[-1]


def _where(sites: Iterable[Tuple[str, int, str]], limit: int = 6) -> str:
    unique = sorted(set(sites))
    shown = [f"`{path}:{line}` ({f'`{function}`' if function else 'module level'})"
             for path, line, function in unique[:limit]]
    if len(unique) > limit:
        shown.append(f"{len(unique) - limit} more")
    return ", ".join(shown)


def _count(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def _with_recommendations(audit: Audit, index: ModelIndex) -> Audit:
    from dataclasses import replace

    return replace(audit, recommendations=tuple(recommendations(audit, index)))


def recommendations(audit: Audit, index: ModelIndex) -> List[str]:
    """What to do, derived from the findings; most urgent first."""
    settings = audit.settings
    causes: Dict[str, List[Tuple[AuditSite, Finding, str, Optional[ModelFacts]]]] = {}
    for site in audit.sites:
        for finding in site.findings:
            model = _model_for(index, finding.model, finding.attributes)
            for attribute in finding.attributes:
                cause = _cause(finding, attribute)
                if finding.certainty == "possible":
                    found = finding.cause_of(attribute)
                    cause = "possible-backend" if found is not None and found.backend_unknown \
                        else "possible"
                causes.setdefault(cause, []).append((site, finding, attribute, model))
    out: List[str] = []
    total = len(audit.findings)

    def sites_of(entries) -> List[Tuple[str, int, str]]:
        return [(s.path, s.line, s.function) for s, _, _, _ in entries]

    def site_count(entries) -> int:
        return len({(s.path, s.line) for s, _, _, _ in entries})

    def finding_count(entries) -> int:
        return len({f for _, f, _, _ in entries})

    update = causes.get("update", [])
    if update:
        where = sites_of(update)
        functions = {(s.path, s.function) for s, _, _, _ in update}
        models = [m.name for _, _, _, m in update if m is not None]
        attributes = [f"{m.name}.{a}" if m is not None else a for _, _, a, m in update]
        text = (f"**{_count(len(functions), 'update function leaves', 'update functions leave')} "
                f"onupdate columns expired** ({_names(attributes)}) where they are read next or "
                f"returned to a reader: {_where(where)}. Refresh them (`flushguard fix` inserts "
                f"`refresh(obj, [...])` naming them)")
        if settings.sqlalchemy != "1.4" or settings.backend in ("postgresql", "unknown"):
            cost = ("one more SELECT per UPDATE on MySQL and MariaDB"
                    if settings.backend in ("mysql", "mariadb", "unknown")
                    else "the UPDATE returns them")
            text += (f", or set `\"eager_defaults\": True` in the `__mapper_args__` of "
                     f"{_names(models)} (or of the mixin that declares the columns): SQLAlchemy "
                     f"then fetches onupdate values itself ({cost})")
        out.append(text + ".")
    insert = causes.get("insert", [])
    if insert:
        where = sites_of(insert)
        models = [m.name for _, _, _, m in insert if m is not None]
        attributes = [f"{m.name}.{a}" if m is not None else a for _, _, a, m in insert]
        why = ("MySQL has no RETURNING" if settings.backend == "mysql"
               else "SQLAlchemy 1.4 does not fetch them" if settings.sqlalchemy == "1.4"
               else "the INSERT does not fetch them")
        leave = _count(site_count(insert), "INSERT site leaves", "INSERT sites leave")
        text = (f"**{leave} server-generated values unloaded** ({_names(attributes)}; {why}) "
                f"where they are read next or returned to a reader: {_where(where)}. Refresh them "
                f"(`flushguard fix`), or set `\"eager_defaults\": True` in the "
                f"`__mapper_args__` of {_names(models)} (SQLAlchemy then fetches them"
                + (": one more SELECT per INSERT on MySQL" if settings.backend == "mysql" else "")
                + ").")
        out.append(text)
    relationship = causes.get("relationship", [])
    if relationship:
        where = sites_of(relationship)
        attributes = [f"{m.name}.{a}" if m is not None else a for _, _, a, m in relationship]
        how = ("re-select the object with `selectinload(...)` (SQLAlchemy 1.4 rejects "
               "`refresh(obj, [\"relationship\"])`)" if settings.sqlalchemy == "1.4" else
               "name them in the refresh (`await session.refresh(obj, [\"roles\"])`, what "
               "`flushguard fix` writes): a plain `refresh(obj)` leaves lazy relationships "
               "unloaded")
        read = _count(site_count(relationship), "site reads", "sites read")
        out.append(f"**{read} relationships a flush never loads** ({_names(attributes)}): "
                   f"{_where(where)}. Assign them before the flush, or {how}.")
    expired = causes.get("expired", [])
    if expired:
        commits = [e for e in expired if e[1].site.kind == "commit"]
        reads = finding_count(expired)
        where = sites_of(expired)
        text = (f"**{_count(reads, 'read follows', 'reads follow')} a commit, rollback or "
                f"expire that expired every attribute**, primary key included: {_where(where)}. "
                f"Refresh after it (`flushguard fix`)")
        commit_findings = finding_count(commits)
        if commits and settings.expire_on_commit and commit_findings * 2 >= total:
            text += (f". These are {commit_findings} of the {total} findings: consider creating "
                     f"the sessions with `async_sessionmaker(engine, expire_on_commit=False)` "
                     f"(the usual choice for async code; now {_setting_source(settings)}); then "
                     f"only server-generated and onupdate values and relationships need a refresh "
                     f"after a commit")
        out.append(text + ".")
    backend = causes.get("possible-backend", [])
    if backend:
        where = sites_of(backend)
        depend = _count(finding_count(backend), "possible finding depends",
                        "possible findings depend")
        out.append(f"**Set the database backend**: {depend} "
                   f"({_where(where)}) on the database: which server-generated values a flush "
                   f"fetches depends on it (an INSERT returns them on PostgreSQL, SQLite and "
                   f"MariaDB, not on MySQL), and flushguard could not detect it "
                   f"({settings.backend_source}). Add `backend = \"mysql\"` "
                   f"(or postgresql, mariadb, sqlite) under `[tool.flushguard]` in pyproject.toml, "
                   f"or pass `--backend`.")
    possible = causes.get("possible", [])
    if possible:
        where = sites_of(possible)
        review = _count(site_count(possible), "site", "sites")
        out.append(f"**Review {review} with possible findings**: {_where(where)}. They depend "
                   f"on what the source cannot show (a caller outside the project, a "
                   f"many-to-one target already in the session); `flushguard fix "
                   f"--unsafe-fixes` inserts their refreshes too.")
    other = causes.get("other", [])
    if other:
        where = sites_of(other)
        attributes = [f"{m.name}.{a}" if m is not None else a for _, _, a, m in other]
        read = _count(site_count(other), "site reads", "sites read")
        out.append(f"**{read} column_property, deferred or SQL-assigned values after a flush** "
                   f"({_names(attributes)}): {_where(where)}. Refresh them (`flushguard fix`).")
    if not total:
        out.append("**No read of an unloaded attribute was found.** Keep it that way: run "
                   "`flushguard check` in CI or as a pre-commit hook.")
    untracked = [s for s in audit.sites if s.category == "untracked"]
    if untracked:
        application = sum(1 for s in untracked if not s.test)
        out.append(f"**{_count(len(untracked), 'site is', 'sites are')} untracked** "
                   f"({application} in application code): a value used after each may be an ORM "
                   f"object, but flushguard could not tie it to a model and does not guess (each "
                   f"site names the value and where it came from, below). Its reads are not "
                   f"checked: annotate the function that returns it (`-> Model`), or the "
                   f"parameter, with the model.")
    return out


def _setting_source(settings: Settings) -> str:
    value = "True" if settings.expire_on_commit else "False"
    return f"expire_on_commit={value} from {settings.expire_on_commit_source}"


# --------------------------------------------------------------------------
# Counting
# --------------------------------------------------------------------------


def counts(sites: Sequence[AuditSite]) -> Dict[str, object]:
    """Sites per kind and per category (every key present, zeros included)."""
    by_kind = {kind: 0 for kind in KINDS}
    by_category = {category: 0 for category in CATEGORIES}
    for site in sites:
        by_kind[site.kind] = by_kind.get(site.kind, 0) + 1
        by_category[site.category] = by_category.get(site.category, 0) + 1
    return {"sites": len(sites), "by_kind": by_kind, "by_category": by_category}


def _percent(count: int, total: int) -> str:
    return f"{100 * count / total:.1f}%" if total else "-"


# --------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------


def site_json(site: AuditSite) -> Dict[str, object]:
    return {
        "path": site.path,
        "line": site.line,
        "kind": site.kind,
        "session": site.session,
        "function": site.function,
        "objects": list(site.objects),
        "models": list(site.models),
        "category": site.category,
        "reads": list(site.reads),
        "test": site.test,
        "via": site.via,
        "unresolved": list(site.unresolved),
        "findings": [finding_json(f) for f in site.findings],
    }


def _state_json(state: State) -> Dict[str, str]:
    return {"status": state.status, "why": state.why}


def model_json(model: ModelAudit) -> Dict[str, object]:
    return {
        "name": model.name,
        "qualname": model.qualname,
        "path": model.path,
        "line": model.line,
        "attributes": [{"name": a.name, "kind": a.kind, "insert": _state_json(a.insert),
                        "update": _state_json(a.update)} for a in model.attributes],
        "relationships": [{"name": r.name, "target": r.target, "lazy": r.lazy,
                           "shape": relationship_shape(r)} for r in model.relationships],
    }


def summary_json(audit: Audit) -> Dict[str, object]:
    summary = counts(audit.sites)
    findings = audit.findings
    summary.update({
        "files": len({s.path for s in audit.sites}),
        "application": counts(audit.part(test=False)),
        "tests": counts(audit.part(test=True)),
        "findings": len(findings),
        "possible": sum(1 for f in findings if f.certainty == "possible"),
        "models": len(audit.models),
        "files_scanned": audit.files_scanned,
        "errors": [{"path": path, "message": message} for path, message in audit.errors],
        "settings": {
            "backend": audit.settings.backend,
            "backend_source": audit.settings.backend_source,
            "sqlalchemy": audit.settings.sqlalchemy,
            "sqlalchemy_source": audit.settings.sqlalchemy_source,
            "expire_on_commit": audit.settings.expire_on_commit,
            "expire_on_commit_source": audit.settings.expire_on_commit_source,
            "roots": [folder or "." for folder, _ in sorted(audit.settings.roots)],
            "roots_source": audit.settings.roots_source,
        },
        "recommendations": list(audit.recommendations),
    })
    return summary


def render_json(result: RunResult) -> str:
    """``{"version": 1, "sites": [...], "models": [...], "summary": {...}}``, keys sorted."""
    audit = build_audit(result)
    document = {
        "version": 1,
        "sites": [site_json(s) for s in audit.sites],
        "models": [model_json(m) for m in audit.models],
        "summary": summary_json(audit),
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


# --------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def table(header: Sequence[str], rows: Sequence[Sequence[str]],
          right: Sequence[int] = ()) -> List[str]:
    """A Markdown table whose columns line up in a pager too (cells padded to their width)."""
    cells = [[_cell(c) for c in header]] + [[_cell(c) for c in row] for row in rows]
    widths = [max(3, *(len(row[i]) for row in cells)) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        padded = [c.rjust(w) if i in right else c.ljust(w)
                  for i, (c, w) in enumerate(zip(row, widths))]
        return "| " + " | ".join(padded) + " |"

    rule = ["-" * (w - 1) + ":" if i in right else "-" * w for i, w in enumerate(widths)]
    return [line(cells[0]), "| " + " | ".join(rule) + " |", *(line(r) for r in cells[1:])]


def _codes(items: Iterable[str]) -> str:
    return ", ".join(f"`{item}`" for item in items)


def _function(site: AuditSite) -> str:
    where = f"`{site.function}`" if site.function else "module level"
    return f"{where} (via `{site.via.rsplit('.', 1)[-1]}()`)" if site.via else where


def _reader(finding: Finding) -> str:
    """Who reads the attributes: the function itself at a line, or the consumers FG004 traced
    (the finding's message names them after "read by")."""
    message = finding.message
    if "; read by " in message:  # `obj` is returned with ...; read by <readers>
        return "read by " + message.split("; read by ", 1)[1]
    if message.endswith(")") and " (read by " in message:  # ... (read by <reader>)
        return "read by " + message.rsplit(" (read by ", 1)[1][:-1]
    if "no caller in the project" in message:
        return "returned; no caller in the project shows whether it is read"
    return f"read at line {finding.line}"


def _finding_summary(finding: Finding) -> str:
    attributes = ", ".join(f"`{finding.object}.{a}`" for a in finding.attributes)
    tag = " (possible)" if finding.certainty == "possible" else ""
    return f"{finding.code}{tag} {attributes} {_reader(finding)}"


def render_markdown(result: RunResult) -> str:
    """The audit as a Markdown document (GitHub renders it; it reads in a pager too)."""
    from codemods import __version__

    audit = build_audit(result)
    out: List[str] = []
    application = audit.part(test=False)
    tests = audit.part(test=True)
    risky = [s for s in audit.sites if s.category in RISKY]
    findings = audit.findings
    unsafe = sum(1 for s in risky if s.category == "unsafe")
    out += [
        f"# Async SQLAlchemy flush and commit audit: `{audit.project}`",
        "",
        f"Written by `flushguard audit` (flushguard {__version__}). Every `flush()`, `commit()`, "
        "`rollback()` and `expire()` of an async session, classified by what is read after it. "
        "A read of an attribute the statement left unloaded raises `MissingGreenlet`; which "
        "attributes those are follows SQLAlchemy's measured behaviour (server-generated values, "
        "`onupdate` columns, relationships, expiry on commit), not column types: enum columns "
        "are ordinary values.",
        "",
        f"**{_count(len(audit.sites), 'site', 'sites')}** in "
        f"{_count(len({s.path for s in audit.sites}), 'file', 'files')} "
        f"({len(application)} in application code, {len(tests)} in tests): "
        f"**{_count(unsafe, 'unsafe site', 'unsafe sites')}**, "
        f"{sum(1 for s in risky if s.category == 'possible')} possible, "
        f"{_count(len(findings), 'finding', 'findings')}. "
        f"{_count(audit.files_scanned, 'file', 'files')} scanned, "
        f"{_count(len(audit.models), 'model', 'models')}.",
        "",
    ]
    out += _totals(application, tests)
    out += _pie(application, tests)
    out += _risks(risky)
    out += _models(audit)
    out += _settings(audit.settings)
    out += ["## Recommendations", ""]
    out += [f"{i}. {text}" for i, text in enumerate(audit.recommendations, 1)]
    out += [""]
    out += _all_sites(application, tests)
    if audit.errors:
        out += ["## Files not analysed", ""]
        out += [f"- `{path}`: {message}" for path, message in audit.errors]
        out += [""]
    return "\n".join(_wrapped(out)).rstrip("\n") + "\n"


#: Prose lines are wrapped here so that the document reads in a terminal pager too (GitHub
#: joins the lines of a paragraph again); tables and code blocks are never wrapped.
WIDTH = 100
_LIST_MARKER = re.compile(r"^(\s*(?:[-*]|\d+\.) )")


def _wrapped(lines: Iterable[str]) -> List[str]:
    out: List[str] = []
    fenced = False
    for line in lines:
        if line.startswith("```"):
            fenced = not fenced
        if fenced or len(line) <= WIDTH or line.lstrip().startswith(("|", "#", "```")):
            out.append(line)
            continue
        marker = _LIST_MARKER.match(line)
        first = marker.group(1) if marker else ""
        out.extend(textwrap.wrap(line[len(first):], WIDTH, initial_indent=first,
                                 subsequent_indent=" " * len(first), break_long_words=False,
                                 break_on_hyphens=False))
    return out


def _totals(application: Sequence[AuditSite], tests: Sequence[AuditSite]) -> List[str]:
    app, test = counts(application), counts(tests)
    app_total, test_total = len(application), len(tests)

    def rows(key: str, names: Sequence[str]) -> List[List[str]]:
        out = []
        for name in names:
            a, t = app[key][name], test[key][name]  # type: ignore[index]
            out.append([f"`{name}`", str(a), _percent(a, app_total), str(t),
                        _percent(t, test_total)])
        out.append(["**total**", str(app_total), _percent(app_total, app_total),
                    str(test_total), _percent(test_total, test_total)])
        return out

    lines = ["## Totals", "", "### Sites per kind", ""]
    lines += table(["kind", "application", "%", "tests", "%"], rows("by_kind", KINDS),
                   right=(1, 2, 3, 4))
    lines += ["", "### Sites per category", ""]
    lines += table(["category", "application", "%", "tests", "%"],
                   rows("by_category", CATEGORIES), right=(1, 2, 3, 4))
    lines += [""] + [f"- `{c}`: {CATEGORY_MEANINGS[c]}" for c in CATEGORIES]
    return lines + [""]


def _pie(application: Sequence[AuditSite], tests: Sequence[AuditSite]) -> List[str]:
    sites, title = (application, "Application sites per category") if application else \
        (tests, "Test sites per category")
    if not sites:
        return []
    by_category = counts(sites)["by_category"]
    lines = ["```mermaid", f"pie title {title}"]
    lines += [f'    "{c}" : {n}' for c, n in by_category.items() if n]  # type: ignore[union-attr]
    return lines + ["```", ""]


def _risks(risky: Sequence[AuditSite]) -> List[str]:
    lines = ["## Risks", ""]
    if not risky:
        return lines + ["No unsafe or possible site.", ""]
    rows = []
    for site in risky:
        rows.append([
            f"`{site.path}:{site.line}`" + (" (test)" if site.test else ""),
            site.kind,
            _function(site),
            _codes(site.objects),
            _codes(site.models),
            site.category,
            "; ".join(_finding_summary(f) for f in site.findings),
        ])
    lines += table(["site", "kind", "function", "objects", "models", "category", "findings"],
                   rows)
    lines += ["", "Each finding, with why the attribute is unloaded:", ""]
    for site in risky:
        lines.append(f"- `{site.path}:{site.line}` {site.kind} in {_function(site)}")
        for finding in site.findings:
            tag = " [possible]" if finding.certainty == "possible" else ""
            lines.append(f"  - line {finding.line}: {finding.code}{tag} {finding.message}")
    return lines + [""]


def _models(audit: Audit) -> List[str]:
    settings = audit.settings
    lines = ["## Models: what a flush leaves unloaded", ""]
    if not audit.models_known:
        return lines + ["The models are not known for source read from stdin.", ""]
    version = "1.4" if settings.sqlalchemy == "1.4" else "2.x"
    lines += [
        f"On this project's settings (backend {settings.backend}, SQLAlchemy {version}). Only "
        "attributes whose state depends on the flush are listed; ordinary columns (enums "
        "included) hold the values the code gave, and the primary key is always loaded after a "
        "flush. After an INSERT, an attribute the code gave a value to (or a relationship it "
        "assigned) is loaded whatever the table says. After a `commit()` "
        + ("(expire_on_commit=True here), " if settings.expire_on_commit else "with "
           "expire_on_commit=True (False here), ")
        + "a `rollback()` or an `expire()`, every attribute is expired, the primary key "
        "included.",
        "",
    ]
    rows = []
    plain = []
    for model in audit.models:
        if not model.attributes:
            plain.append(model.name)
            continue
        for attribute in model.attributes:
            rows.append([f"`{model.name}`", f"`{attribute.name}`", attribute.kind,
                         _status(attribute.insert), _status(attribute.update),
                         _why(attribute)])
    if rows:
        lines += table(["model", "attribute", "kind", "after INSERT", "after UPDATE", "why"],
                       rows)
        lines.append("")
    if plain:
        lines += [f"A flush leaves everything loaded on {_names(plain, limit=len(plain))} "
                  "(plain columns only, no relationship).", ""]
    if not audit.models:
        lines += ["No mapped class found in the project.", ""]
    return lines


def _why(attribute: AttributeRisk) -> str:
    insert, update = attribute.insert.why, attribute.update.why
    if insert == update or not update:
        return insert
    if not insert:
        return update
    return f"INSERT: {insert}; UPDATE: {update}"


def _status(state: State) -> str:
    return f"**{state.status}**" if state.status in (UNLOADED, POSSIBLE) else state.status


def _settings(settings: Settings) -> List[str]:
    version = "1.4" if settings.sqlalchemy == "1.4" else "2.x"
    rows = [
        ["backend", settings.backend, settings.backend_source],
        ["SQLAlchemy", version, settings.sqlalchemy_source],
        ["expire_on_commit", str(settings.expire_on_commit), settings.expire_on_commit_source],
        ["package roots", ", ".join(f"`{folder or '.'}`" for folder, _ in sorted(settings.roots))
         or "`.`", settings.roots_source],
    ]
    lines = ["## Settings", ""]
    lines += table(["setting", "value", "detected from"], rows)
    lines += ["", "Override them under `[tool.flushguard]` in pyproject.toml (`backend`, "
                  "`sqlalchemy`, `expire-on-commit`, `roots`) or on the command line.", ""]
    return lines


def _category(site: AuditSite) -> str:
    """The category, and for an untracked site what it could not resolve."""
    if site.category == "untracked" and site.unresolved:
        return f"untracked: {'; '.join(site.unresolved)}"
    return site.category


def _all_sites(application: Sequence[AuditSite], tests: Sequence[AuditSite]) -> List[str]:
    lines = ["## Every site", ""]
    for title, sites in (("Application code", application), ("Tests", tests)):
        lines += [f"### {title}", ""]
        if not sites:
            lines += ["None.", ""]
            continue
        by_path: Dict[str, List[AuditSite]] = {}
        for site in sites:
            by_path.setdefault(site.path, []).append(site)
        for path, group in by_path.items():
            lines += [f"#### `{path}`", ""]
            rows = [[str(s.line), s.kind, _function(s), _codes(s.objects), _codes(s.models),
                     _codes(s.reads), _category(s)] for s in group]
            lines += table(["line", "kind", "function", "objects", "models", "reads after",
                            "category"], rows, right=(0,))
            lines.append("")
    return lines

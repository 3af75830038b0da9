"""Reads of tracked objects: which are unsafe, and the findings they become.

:func:`check_read` is where a finding starts: a read of attributes whose state says
unloaded becomes a :class:`ReadRecord`. Whole-object reads (``repr``, ``model_validate``,
a response model) read many attributes at once; an object returned while attributes are
unloaded is what its callers will read (FG004, :func:`returned`). :func:`build_findings`
turns the records of a module into findings and the plans their fixes come from.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

from codemods.analysis import orm_rules
from codemods.analysis.context import FunctionRun, ModuleRun, ReadRecord, SiteInfo
from codemods.analysis.state import Obj, Opaque, Reason, State
from codemods.types import Cause, ConsumerRead, Finding, ModelFacts, ReturnedState, Site

Position = Tuple[int, int]


def check_read(run: FunctionRun, key: str, obj: Obj, attrs: Sequence[str], at: Position,
               reader: Optional[str] = None, escaped: bool = False) -> None:
    """A read of ``attrs`` of ``obj`` at ``at``: those that are unloaded are recorded, with
    every reason (site) that left them so on some path."""
    for site_id in obj.sites:
        run.module.site_reads.setdefault(site_id, set()).update(attrs)
    unsafe: List[str] = []
    reasons: Set[Reason] = set()
    causes: Dict[str, frozenset] = {}
    for attr in attrs:
        relationship = obj.model.relationship(attr)
        if relationship is not None and orm_rules.reads_without_sql(relationship, bool(obj.expired)):
            continue
        found = obj.reasons_for(attr)
        if found:
            unsafe.append(attr)
            reasons |= found
            causes[attr] = frozenset(found)
    if not unsafe:
        return
    record_key = (at[0], at[1], key, tuple(unsafe))
    existing = run.reads.get(record_key)
    if existing is not None:  # a loop body reads twice: both visits' reasons count
        reasons |= set(existing.reasons)
        for attr, found in existing.causes.items():
            causes[attr] = causes.get(attr, frozenset()) | found
    run.reads[record_key] = ReadRecord(at[0], at[1], key, obj, tuple(unsafe),
                                       tuple(sorted(reasons, key=Reason.sort_key)), reader, causes,
                                       escaped)


def unresolved_use(run: FunctionRun, key: Optional[str], value: Opaque) -> None:
    """A value that may be an ORM object of no known model is used: the sites it lived across
    are untracked, and say what it is."""
    for site_id in value.sites:
        run.module.site_unresolved.setdefault(site_id, set()).add(f"`{key}` ({value.origin})")


def whole_object_read(run: FunctionRun, key: Optional[str], state: State, at: Position,
                      repr_only: bool) -> None:
    """``repr(obj)``/an f-string of it (the attributes its ``__repr__`` reads), or
    ``jsonable_encoder(obj)`` and the like (every column)."""
    obj = state.bindings.get(key) if key is not None else None
    if not isinstance(obj, Obj):
        return
    if repr_only:
        if obj.model.repr_attributes:
            check_read(run, key, obj, obj.model.repr_attributes, at)  # type: ignore[arg-type]
        return
    check_read(run, key, obj, obj.model.column_names, at)  # type: ignore[arg-type]


def serialize_read(run: FunctionRun, key: Optional[str], state: State, schema, at: Position,
                   reader: str, escaped: bool = False) -> None:
    """A schema validating the object from attributes reads each of its fields."""
    obj = state.bindings.get(key) if key is not None else None
    if not isinstance(obj, Obj):
        return
    attrs = tuple(f for f, _ in schema.fields if obj.model.has_attribute(f))
    check_read(run, key, obj, attrs, at, reader=f"{reader}{schema.name}.", escaped=escaped)  # type: ignore[arg-type]


def escape(run: FunctionRun, keys: Iterable[Optional[str]], state: State) -> None:
    """The objects bound to ``keys`` leave the function (returned, passed on) as they are."""
    for key in keys:
        obj = state.bindings.get(key) if key is not None else None
        if isinstance(obj, Obj):
            run.escapes.append((key, obj, tuple(obj.all_reasons())))  # type: ignore[arg-type]


def returned(run: FunctionRun, key: Optional[str], obj: Optional[Obj], at: Position,
             position: Optional[int] = None) -> None:
    """``return obj``: a route's response model reads it; any other function's callers get it.

    For callers it becomes a :class:`ReturnedState` fact (what it is and what is unloaded);
    where the project shows callers reading what this function left unloaded (the
    consumers), or shows none at all (untraced), the return itself is a finding (FG004).
    """
    if not isinstance(obj, Obj):
        return
    shown = key if key is not None else "the object returned here"
    run.module.escaped_sites.update(obj.sites)
    if run.route is not None and position is None:
        method, path, schema_ref = run.route
        schema = run.names.resolve_schema(schema_ref) if schema_ref else None
        if schema is not None:
            attrs = tuple(f for f, _ in schema.fields if obj.model.has_attribute(f))
            check_read(run, shown, obj, attrs, at, reader=f"{method} {path} -> {schema.name}.",
                       escaped=True)
        return
    by_origin = _unloaded_by_origin(obj)
    pending = obj.origin == "new" and not obj.persistent
    run.module.returned.append(ReturnedState(
        via=run.fqn, model=obj.model.qualname,
        unloaded=tuple(sorted((attr, possible, origin or run.fqn)
                              for origin, attrs in by_origin.items()
                              for attr, possible in attrs.items())),
        path=run.module.path, line=at[0], is_list=obj.is_list, position=position,
        pending=pending, given=tuple(sorted(obj.given)) if pending else (),
        added=obj.in_session, loaded=tuple(sorted(obj.loaded_rels)), loads_known=obj.loads_known))
    if None in by_origin:
        _escapes_to_consumers(run, shown, obj, set(by_origin[None]), at)


def annotated_return(run: FunctionRun) -> None:
    """A function whose returns the analysis could not type, annotated ``-> Model`` (or a
    list of them): its callers get a persistent object of that model, whose relationships'
    load state is unknown."""
    if run.function.returns is None:
        return
    found = run.names.annotation_model(run.function.returns)
    if found is None:
        return
    model, is_list = found
    run.module.returned.append(ReturnedState(
        via=run.fqn, model=model.qualname, unloaded=(), path=run.module.path,
        line=run.function.line, is_list=is_list, loads_known=False))


def _unloaded_by_origin(obj: Obj) -> Dict[Optional[str], Dict[str, bool]]:
    """Per origin (None: this function), each unloaded attribute and whether it is only possibly so."""
    by_origin: Dict[Optional[str], Dict[str, bool]] = {}
    for attr in obj.model.column_names + tuple(r.name for r in obj.model.relationships):
        for reason in obj.reasons_for(attr):
            seen = by_origin.setdefault(reason.origin, {})
            seen[attr] = seen.get(attr, True) and reason.possible
    return by_origin


def _escapes_to_consumers(run: FunctionRun, key: str, obj: Obj, candidates: Set[str],
                          at: Position) -> None:
    """FG004 at the return: what this function's callers read of what it left unloaded, or
    (no caller shown) every column it left unloaded, as possible."""
    local = {a for a in candidates if any(r.origin is None for r in obj.reasons_for(a))}
    facts = run.names.facts
    consumers = [c for c in facts.consumers(run.fqn) if c.attribute in local]
    if consumers:
        read = tuple(sorted({c.attribute for c in consumers}))
        reasons = {r for a in read for r in obj.reasons_for(a) if r.origin is None}
        readers = "; ".join(sorted({c.reader for c in consumers}))
        run.fg004.append(ReadRecord(at[0], at[1], key, obj, read,
                                    tuple(sorted(reasons, key=Reason.sort_key)), readers,
                                    {a: frozenset(obj.reasons_for(a)) for a in read}))
    elif facts.untraced(run.fqn):
        # Every column the site left unloaded; not a deferred column the query never loaded
        # (no flush made it so, and nothing shows it is read).
        columns = tuple(a for a in sorted(local) if obj.model.relationship(a) is None
                        and not all(r.cause.kind == "deferred" for r in obj.reasons_for(a)))
        if not columns:
            return
        reasons = {_possibly(r) for a in columns for r in obj.reasons_for(a) if r.origin is None}
        run.fg004.append(ReadRecord(
            at[0], at[1], key, obj, columns, tuple(sorted(reasons, key=Reason.sort_key)), None,
            {a: frozenset(_possibly(r) for r in obj.reasons_for(a)) for a in columns}))


def _possibly(reason: Reason) -> Reason:
    return replace(reason, cause=replace(reason.cause, possible=True))


# --------------------------------------------------------------------------
# From read records to findings and fix plans
# --------------------------------------------------------------------------


@dataclass
class FixPlan:
    """The refresh one object needs after one site: the attributes, certain and possible."""

    site: SiteInfo
    obj_key: str
    obj: Obj
    certain: Set[str] = field(default_factory=set)
    possible: Set[str] = field(default_factory=set)
    escapes: bool = False


@dataclass
class Collected:
    """A module's findings (each with the key of the plan that fixes it), plans and the reads
    it makes of other functions' leftovers."""

    findings: List[Tuple[Finding, Optional[Tuple[int, str]]]] = field(default_factory=list)
    plans: Dict[Tuple[int, str], FixPlan] = field(default_factory=dict)
    consumer_reads: List[ConsumerRead] = field(default_factory=list)


def attribute_order(model: ModelFacts, attrs: Iterable[str]) -> List[str]:
    """``attrs`` in the order the model declares them (columns, expressions, relationships)."""
    declared = [c.name for c in model.columns] + [e.name for e in model.expressions] + [
        r.name for r in model.relationships]
    wanted = set(attrs)
    return [a for a in declared if a in wanted] + sorted(wanted - set(declared))


def fix_target(obj_key: str, obj: Obj) -> str:
    """Reads through a loop variable are fixed on the list it iterates."""
    if obj.is_list and obj.home is not None:
        return obj.home
    return obj_key


def collect(module: ModuleRun, run: FunctionRun, collected: Collected) -> None:
    """The findings and fix plans of one function's reads, returns and escapes."""
    for record in sorted(run.reads.values(), key=lambda r: (r.line, r.column, r.obj_key)):
        _emit(module, run, record, False, collected)
    for record in run.fg004:
        _emit(module, run, record, True, collected)
    # Escaping objects: name every column the site left unloaded (the fix names them all).
    for key, obj, reasons in run.escapes:
        for reason in reasons:
            plan = collected.plans.get((reason.site_id, fix_target(key, obj)))
            if plan is None:
                continue
            plan.escapes = True
            # A plan with only possible reads (an untraced escape) stays an unsafe fix.
            certain = not reason.possible and bool(plan.certain)
            for attr in obj.model.column_names:
                if reason in obj.reasons_for(attr) and obj.model.relationship(attr) is None:
                    (plan.certain if certain else plan.possible).add(attr)


def _emit(module: ModuleRun, run: FunctionRun, record: ReadRecord, fg004: bool,
          collected: Collected) -> None:
    """Findings (and fix plans) for one read, per rule; reads of a callee's leftovers become
    consumer reads for that callee instead."""
    settings, names = module.settings, module.names
    qualname = run.function.qualname
    local: List[Reason] = []
    for reason in record.reasons:
        if reason.origin is None:
            local.append(reason)
            continue
        for attr in record.attrs:
            if reason in record.causes.get(attr, ()):
                reader = f"{record.reader}{attr}" if record.reader and not fg004 else \
                    f"{names.module_name}.{qualname} ({module.path}:{record.line}: `.{attr}`)"
                collected.consumer_reads.append(ConsumerRead(reason.origin, attr, reader))
    by_code: Dict[str, List[Reason]] = {}
    for reason in local:
        code = "FG004" if (fg004 or record.escaped) else reason.code
        by_code.setdefault(code, []).append(reason)
    for code, reasons in sorted(by_code.items()):
        if not settings.rule_enabled(code):
            continue
        if names.suppressed(record.line, code) or any(names.suppressed(r.line, code) for r in reasons):
            continue
        attrs = tuple(attribute_order(record.obj.model, (
            a for a in record.attrs if any(r in record.causes.get(a, ()) for r in reasons))))
        plan_key = _plan(module, record, attrs, reasons, collected.plans)
        site_reason = reasons[-1]
        if fg004:
            message = _escape_message(record, attrs, reasons)
        else:
            message = _message(code, record.obj_key, attrs, reasons)
            if record.reader:
                message += f" (read by {record.reader}{', '.join(attrs)})"
        error_path = _error_path(module, reasons)
        if error_path is not None:
            message += f" (on the error path through {error_path})"
        finding = Finding(
            path=module.path, line=record.line, column=record.column, code=code, message=message,
            object=record.obj_key, model=record.obj.model.name, attributes=attrs,
            site=Site(line=site_reason.line, kind=site_reason.kind, session=site_reason.session),
            certainty="possible" if all(r.possible for r in reasons) else "certain",
            function=qualname, causes=tuple(_cause_per_attribute(record, attrs, reasons)),
            reader=(f"{record.reader}{', '.join(attrs)}" if record.reader and not fg004
                    else record.reader),
            error_path=error_path,
        )
        collected.findings.append((finding, plan_key))


def _error_path(module: ModuleRun, reasons: Sequence[Reason]) -> Optional[str]:
    """The ``except`` clause every reason's site is in, when they all are in one."""
    paths = {module.sites[r.site_id].error_path if r.site_id in module.sites else None
             for r in reasons}
    if len(paths) == 1:
        return next(iter(paths))
    return None if None in paths else ", ".join(sorted(p for p in paths if p))


def _cause_per_attribute(record: ReadRecord, attrs: Sequence[str],
                         reasons: Sequence[Reason]) -> Iterable[Tuple[str, Cause]]:
    """Each attribute with the cause of the latest of the finding's reasons that unloaded it."""
    for attr in attrs:
        own = [r for r in reasons if r in record.causes.get(attr, ())]
        if own:
            yield attr, max(own, key=Reason.sort_key).cause


def _plan(module: ModuleRun, record: ReadRecord, attrs: Sequence[str], reasons: Sequence[Reason],
          plans: Dict[Tuple[int, str], FixPlan]) -> Optional[Tuple[int, str]]:
    """Add the read's attributes to the plan of each site that caused it; the finding's own
    fix is a plan that can be inserted (a site on a line of its own in a block), if any."""
    plan_key: Optional[Tuple[int, str]] = None
    target = fix_target(record.obj_key, record.obj)
    for reason in reasons:
        if not reason.fixable:
            continue
        site = module.sites[reason.site_id]
        key = (site.id, target)
        plan = plans.get(key)
        if plan is None:
            plan = plans[key] = FixPlan(site=site, obj_key=target, obj=record.obj)
        for attr in attrs:
            if reason in record.causes.get(attr, ()):
                (plan.possible if reason.possible else plan.certain).add(attr)
        if plan_key is None or (site.insertable and not plans[plan_key].site.insertable):
            plan_key = key
    return plan_key


def _message(code: str, obj_key: str, attrs: Sequence[str], reasons: Sequence[Reason]) -> str:
    attr_text = ", ".join(f"`{obj_key}.{a}`" for a in attrs)
    first = reasons[0]
    if code == "FG003":
        return f"{attr_text} read after line {first.line}, where {first.why}"
    return f"{attr_text} is not loaded after the {first.kind} on line {first.line}: {first.why}"


def _shown(obj_key: str) -> str:
    """The object as a message names it: `obj` is returned with; the object returned here has."""
    return f"{obj_key} has" if obj_key.startswith("the ") else f"`{obj_key}` is returned with"


def _escape_message(record: ReadRecord, attrs: Sequence[str], reasons: Sequence[Reason]) -> str:
    first = reasons[0]
    names = ", ".join(f"`{a}`" for a in attrs)
    if record.reader:
        return (f"{_shown(record.obj_key)} {names} unloaded by the {first.kind} on line "
                f"{first.line} ({first.why}); read by {record.reader}")
    return (f"{_shown(record.obj_key)} {names} unloaded by the {first.kind} on line "
            f"{first.line} ({first.why}); no caller in the project shows whether it is read")

"""The analysis: a module's IR, the project's facts and the settings in; findings and edits out.

Pure: nothing here reads or writes a file, parses text or imports LibCST. The pipeline:

    IR (:mod:`.ir`, made by :mod:`.lower` from the front end's tree)
      → interpreter (:mod:`.interpreter`) over each async function that can hold a finding,
        asking the session model (:mod:`.session`) and the rules (:mod:`.orm_rules`)
      → reads and findings (:mod:`.reads`) → fixes as structured edits (:mod:`.fixes`)

:func:`analyze` is the entry point; :mod:`codemods.rewrite` applies the edits.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Dict, List, Mapping, Optional, Sequence, Set, Tuple

from codemods.analysis import ir
from codemods.analysis.context import FunctionRun, ModuleRun
from codemods.analysis.fixes import plan_fixes
from codemods.analysis.interpreter import Interpreter
from codemods.analysis.lower import Bodies
from codemods.analysis.names import FactsView, Names
from codemods.analysis.reads import Collected, FixPlan, annotated_return, collect
from codemods.analysis.summaries import summarise
from codemods.types import CallFacts, Finding, ModelIndex, ModuleResult, Settings, SiteReport


@dataclass(frozen=True)
class FunctionResult:
    """What interpreting one function produced: its sites and what became of them, the facts
    for other modules, its findings and fix plans. Site ids are its own (from 1); they are
    renumbered when the module's results are put together."""

    run: ModuleRun
    collected: Collected


#: Function results by file and function, with the models they were found with and every
#: question the function asked of the facts, answered: a function is interpreted again in a
#: later round only when some answer changed.
_FUNCTIONS: Dict[Tuple[object, ...], Tuple[ModelIndex, Mapping[Tuple[str, str], object], FunctionResult]] = {}
_FUNCTIONS_LIMIT = 20_000


def analyze(module: ir.Module, source: str, path: str, models: ModelIndex, settings: Settings,
            module_name: str, facts: Optional[CallFacts] = None,
            content_key: Optional[str] = None, bodies: Optional[Bodies] = None) -> ModuleResult:
    """Find the unsafe reads of one module and the edits that fix them.

    Only ``async def`` functions that hold a site, call a function the facts know of, or that
    a caller asked about (``facts.wanted``) are interpreted: no other function can hold a
    finding or teach the rest of the project anything. With ``content_key`` (a digest of the
    file's bytes), a function whose relevant facts did not change since it was last
    interpreted in this process is not interpreted again. ``bodies`` lowers the bodies of
    the functions interpreted (kept between calls by whoever keeps ``module``).
    """
    facts = facts if facts is not None else CallFacts()
    bodies = bodies if bodies is not None else Bodies(source)
    lines = bodies.lines
    names = Names(module, module_name, path, models, facts, lines)
    run = ModuleRun(names=names, settings=settings, path=path)
    # Every question the module's result depends on, with its answer: a later run whose facts
    # answer them all the same gets the same result (``ModuleResult.depends``).
    depends = FactsView(facts)
    collected = Collected()
    for function in module.defs:
        fqn = f"{module_name}.{function.qualname}"
        if not function.is_async or not (function.has_site or depends.wanted(fqn)
                                         or any(depends.relevant(c) for c in function.calls)):
            continue
        key = None
        if content_key is not None:
            key = (content_key, path, module_name, settings, function.qualname, function.line)
            cached = _FUNCTIONS.get(key)
            if cached is not None and cached[0] is models and FactsView.unchanged(cached[1], facts):
                depends.asked.update(cached[1])
                _merge(run, collected, cached[2])
                continue
        names.facts = FactsView(facts)
        result = _interpret(function, bodies.of(function), fqn, names, settings, path)
        depends.asked.update(names.facts.asked)
        if key is not None:
            if len(_FUNCTIONS) >= _FUNCTIONS_LIMIT:
                _FUNCTIONS.clear()
            _FUNCTIONS[key] = (models, names.facts.asked, result)
        _merge(run, collected, result)
    summarised = depends.params_wanted(module_name)
    findings: List[Finding] = []
    fixes, edits = plan_fixes(collected.plans, settings, source, lines, bodies.layout()) \
        if collected.plans else ({}, [])
    for finding, plan_key in collected.findings:
        fix = fixes.get(plan_key) if plan_key is not None else None
        if fix is not None and finding.certainty == "possible":
            fix = replace(fix, applicability="unsafe")
        findings.append(replace(finding, fix=fix))
    findings.sort(key=lambda f: f.sort_key)
    return ModuleResult(
        path=path,
        findings=tuple(findings),
        sites=categorised(run, findings, models),
        edits=tuple(edits),
        returned=tuple(run.returned),
        consumer_reads=tuple(sorted(set(collected.consumer_reads),
                                    key=lambda c: (c.origin, c.attribute, c.reader))),
        flush_effects=tuple(sorted(run.flush_effects, key=lambda e: (e.function, e.target, e.kind))),
        calls=tuple(sorted(run.calls)),
        unresolved_calls=tuple(sorted(run.unresolved_calls)),
        unresolved_params=tuple(sorted(run.unresolved_params)),
        param_summaries=summarise(module, bodies, names, module_name, path, summarised)
        if summarised else (),
        instances=tuple((f"{module_name}.{name}", qualified) for name, constructed in module.instances
                        for qualified in [names.qualify(constructed)] if qualified is not None),
        classes=_classes(module, names, module_name),
        returns_arg=tuple(sorted(run.returns_arg, key=lambda r: (r[0], r[2]))),
        depends=tuple(sorted(depends.asked.items(), key=lambda item: item[0])),
    )


def _classes(module: ir.Module, names: Names, module_name: str
             ) -> Tuple[Tuple[str, Tuple[str, ...], Tuple[str, ...]], ...]:
    """Each class: its qualname, its bases' qualnames, its methods' names."""
    methods: Dict[str, Set[str]] = {name: set() for name, _ in module.class_bases}
    for function in module.defs:
        owner = function.owner
        if owner.name and function.qualname == f"{owner.name}.{function.qualname.rpartition('.')[2]}":
            methods[owner.name].add(function.qualname.rpartition(".")[2])
    return tuple((f"{module_name}.{name}",
                  tuple(q for q in (names.qualify(b) for b in bases) if q),
                  tuple(sorted(methods[name])))
                 for name, bases in module.class_bases if "." not in name)


def _interpret(function: ir.Function, body: ir.Block, fqn: str, names: Names, settings: Settings,
               path: str) -> FunctionResult:
    """Interpret one function on its own: its sites, reads, findings and facts."""
    run = ModuleRun(names=names, settings=settings, path=path)
    function_run = FunctionRun(module=run, function=function, body=body, fqn=fqn,
                               route=_route(function, names))
    Interpreter(function_run).run_function()
    if not run.returned:
        annotated_return(function_run)
    collected = Collected()
    collect(run, function_run, collected)
    run.names = None  # type: ignore[assignment]  # a kept result must not keep a round's facts
    return FunctionResult(run, collected)


def _merge(module: ModuleRun, collected: Collected, part: FunctionResult) -> None:
    """Add one function's results to the module's, its sites renumbered after the module's."""
    offset = len(module.sites)
    own = part.run
    for site_id, site in own.sites.items():
        module.sites[site_id + offset] = replace(site, id=site_id + offset)
    for site_id, report in own.site_reports.items():
        module.site_reports[site_id + offset] = report
    for site_id, attrs in own.site_reads.items():
        module.site_reads[site_id + offset] = set(attrs)
    for site_id, unresolved in own.site_unresolved.items():
        module.site_unresolved[site_id + offset] = set(unresolved)
    module.refreshed_sites.update(i + offset for i in own.refreshed_sites)
    module.escaped_sites.update(i + offset for i in own.escaped_sites)
    module.core_sites.update(i + offset for i in own.core_sites)
    module.returned.extend(own.returned)
    module.flush_effects.update(own.flush_effects)
    module.calls.update(own.calls)
    module.unresolved_calls.update(own.unresolved_calls)
    module.unresolved_params.update(own.unresolved_params)
    module.returns_arg.update(own.returns_arg)
    done = part.collected
    for finding, plan_key in done.findings:
        collected.findings.append(
            (finding, (plan_key[0] + offset, plan_key[1]) if plan_key is not None else None))
    for (site_id, target), plan in done.plans.items():
        collected.plans[(site_id + offset, target)] = FixPlan(
            site=module.sites[site_id + offset], obj_key=plan.obj_key, obj=plan.obj,
            certain=set(plan.certain), possible=set(plan.possible), escapes=plan.escapes)
    collected.consumer_reads.extend(done.consumer_reads)


def _route(function: ir.Function, names: Names) -> Optional[Tuple[str, str, Optional[str]]]:
    """(method, path with the router's prefix, response model text) of a route handler."""
    if not function.routes:
        return None
    route = function.routes[0]
    prefix = names.router_prefixes.get(route.router or "", "")
    path = prefix + route.path if route.path else ""
    schema = route.response_model if route.response_model is not None else function.returns
    return route.method.upper(), path or prefix or "/", schema


def categorised(run: ModuleRun, findings: Sequence[Finding], models: ModelIndex) -> Tuple[SiteReport, ...]:
    """Each site with what became of it (the audit's categories)."""
    # By line and kind: `await helper(session, obj); await session.commit()` is two sites on
    # one line, and a finding is the one of its own site (as the audit files it).
    certain = {(f.site.line, f.site.kind) for f in findings if f.certainty == "certain"}
    possible = {(f.site.line, f.site.kind) for f in findings if f.certainty == "possible"}
    out: List[SiteReport] = []
    for site_id, report in run.site_reports.items():
        reads = run.site_reads.get(site_id, set())
        primary_key: Set[str] = set()
        for name in report.models:
            for model in models.by_name(name):
                primary_key |= set(model.primary_key)
        if (report.line, report.kind) in certain:
            category = "unsafe"
        elif (report.line, report.kind) in possible:
            category = "possible"
        elif not report.objects:
            unresolved = run.site_unresolved.get(site_id)
            if unresolved:
                report = replace(report, unresolved=tuple(sorted(unresolved)))
                category = "untracked"
            elif site_id in run.core_sites:
                category = "core-statements"
            else:
                category = "no-objects"
        elif site_id in run.refreshed_sites:
            category = "refresh-follows"
        elif site_id in run.escaped_sites:
            category = "consumers-safe"
        elif reads and reads <= primary_key:
            category = "pk-only"
        elif reads:
            category = "loaded-reads-only"
        else:
            category = "no-reads"
        out.append(replace(report, category=category, reads=tuple(sorted(reads))))
    return tuple(sorted(out, key=lambda s: (s.line, s.kind)))

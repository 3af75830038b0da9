#!/usr/bin/env python3
"""The service-heavy profile: a FastAPI + SQLAlchemy 2.0 async backend whose services flush and
commit everywhere, deterministic, of about N files.

synthetic.py's default profile is an application where about 5 % of the files flush. A
service-heavy backend is denser: most service modules flush or commit, many times each, in long
classes; ``update_*`` methods load an object, set its attributes (by name, or with ``setattr`` in
a loop over a dict) and commit; getters (``async def get_x_or_404(self, x_id) -> X``) and
repositories hand objects to the code that changes them; services call other services; routers
return the objects through ``response_model`` schemas and commit themselves; background jobs open
their own sessions. Per file there are about 0.3 flush and 0.75 commit sites, files have about 380
lines on average, and there are about 250 models (with id, timestamp, soft-delete and audit
mixins, ``server_default`` and ``onupdate=func.now()``, one-to-many, many-to-one and history
relationships) per 1,000 files.

Planted bugs are recorded like the default profile's (:attr:`synthetic.Project.expected`): the
analysis must report exactly those. That includes the bugs behind getters (an object that came
back from a getter or a repository, then changed, flushed and returned to a ``response_model``
or read), written by the ``latent`` templates, which an earlier analysis did not follow;
``reveal=True`` writes each of them, and every other getter call, as the
``self.db.get(Model, id)`` the getter performs (on the same line), and the findings must be
the same.

    python benchmarks/synthetic.py OUT --profile service --files 1000 --expected
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import synthetic
from synthetic import (
    BUGS, HELPERS, MARK, PLAIN, SAFE, Domain, Expected, Method, Project, Route, Source,
    Words, f_class, f_csv, f_dataclass, f_format, f_group, f_http, f_parse,
    f_stats, f_task, filler_module, m_exists, m_get, m_list, m_normalize,
    m_transition, make_domain, s_create_refresh, test_module,
)

#: More columns for the main models (name, annotation, mapped_column arguments, schema
#: annotation, sample value): a service-heavy backend's tables are wide.
MORE_COLUMNS = (
    ("title", "str | None", "String(200)", "str | None", "None"),
    ("description", "str | None", "Text", "str | None", "None"),
    ("quantity", "int", "Integer, default=0", "int", "1"),
    ("unit_price", "Decimal", 'Numeric(12, 2), default=Decimal("0")', "Decimal",
     'Decimal("9.99")'),
    ("started_at", "datetime | None", "DateTime(timezone=True)", "datetime | None", "None"),
    ("finished_at", "datetime | None", "DateTime(timezone=True)", "datetime | None", "None"),
    ("owner_id", "int | None", "Integer, index=True", "int | None", "None"),
    ("locale", "str", 'String(8), default="en"', "str", '"en"'),
    ("phone", "str | None", "String(32)", "str | None", "None"),
    ("url", "str | None", "String(500)", "str | None", "None"),
    ("retries", "int", "Integer, default=0", "int", "0"),
    ("revision", "int", "Integer, default=1", "int", "1"),
    ("is_public", "bool", "Boolean, default=False", "bool", "False"),
    ("sort_order", "int", "Integer, default=0", "int", "0"),
    ("tax_rate", "Decimal", 'Numeric(5, 4), default=Decimal("0")', "Decimal", 'Decimal("0.2")'),
    ("region", "str | None", "String(32), index=True", "str | None", '"eu-west"'),
    ("source", "str", 'String(32), default="api"', "str", '"api"'),
    ("summary", "str | None", "String(500)", "str | None", "None"),
    ("settings_json", "dict | None", "JSON", "dict | None", "None"),
    ("checksum", "str | None", "String(64)", "str | None", "None"),
)

# --------------------------------------------------------------------------
# A domain of the service profile
# --------------------------------------------------------------------------


@dataclass
class Spec:
    """What the service profile adds to a :class:`synthetic.Domain`."""

    d: Domain
    #: More columns of the main model, beyond ``d.extras``.
    columns: Tuple[tuple, ...]
    #: Earlier domains whose services this one's call (and whose model it references).
    partners: Tuple[Domain, ...]
    #: A third model, ``<E>History``: the history of the main one.
    history: bool
    #: Whether the domain has a workflow service (``app/services/<m>_workflow.py``).
    workflow: bool
    #: Whether the domain has background jobs (``app/jobs/<m>.py``).
    jobs: bool
    reveal: bool = False

    @property
    def H(self) -> str:
        return f"{self.d.E}History"

    @property
    def W(self) -> str:
        return f"{self.d.E}Workflow"

    def svc(self, o: Domain) -> str:
        """The attribute that holds a partner's service: ``self.customer_service``."""
        return f"{o.m}_service"

    # Getter calls: where the object of a bug behind a getter comes from. ``reveal`` writes the
    # load the getter performs, on the same line: the findings must be the same.

    def own_getter(self, ident: str) -> str:
        d = self.d
        return (f"await self.db.get({d.E}, {ident})" if self.reveal
                else f"await self.get_{d.e}_or_404({ident})")

    def repo_getter(self, ident: str) -> str:
        d = self.d
        return (f"await self.db.get({d.E}, {ident})" if self.reveal
                else f"await self.repo.get_{d.e}({ident})")

    def service_getter(self, ident: str, o: Optional[Domain] = None) -> str:
        """From a workflow or a job: ``self.<m>_service.get_<m>_or_404(...)``."""
        o = o or self.d
        return (f"await self.db.get({o.E}, {ident})" if self.reveal
                else f"await self.{self.svc(o)}.get_{o.e}_or_404({ident})")

    def latent(self, code: str) -> str:
        """A bug behind a getter: planted (the analysis follows objects getters return)."""
        return MARK + code


def make_spec(index: int, seed: int, reveal: bool = False) -> Spec:
    d = make_domain(index, seed)
    rng = random.Random(f"{seed}:service:{index}")
    names = {col[0] for col in d.extras}
    pool = [col for col in MORE_COLUMNS if col[0] not in names]
    columns = tuple(rng.sample(pool, rng.randint(6, 16)))
    taken = names | {col[0] for col in columns} | {d.rel, "history", "name", "status", "notes",
                                                   "priority"}
    partners: Tuple[Domain, ...] = ()
    if index:
        picks = sorted(set(rng.randrange(index) for _ in range(rng.randint(1, 2))))
        partners = tuple(o for o in (make_domain(i, seed) for i in picks)
                         if o.m not in taken and f"{o.m}_id" not in taken)
    return Spec(d=d, columns=columns, partners=partners, history=rng.random() < 0.5,
                workflow=rng.random() < 0.55, jobs=rng.random() < 0.7, reveal=reveal)


# --------------------------------------------------------------------------
# Service methods of the profile (templates take the spec and a variant suffix)
# --------------------------------------------------------------------------
# Lines are indented for a class body. MARK lines are planted bugs; ``s.latent(code)`` lines
# are real bugs today's analysis does not see (an object from a getter).

Template = Callable[[Spec, str], Method]


def _not_found(d: Domain, var: str, ident: str, indent: str = "    ") -> List[str]:
    return [f"{indent}if {var} is None:", f'{indent}    raise NotFoundError("{d.e}", {ident})']


def g_get_or_404(s: Spec, v: str) -> Method:
    """The getter most methods start with: returns a loaded object (or raises)."""
    d = s.d
    return Method(f"get_{d.e}_or_404{v}", [
        f"async def get_{d.e}_or_404{v}(self, {d.e}_id: int) -> {d.E}:",
        f'    """The {d.e}, or NotFoundError (404)."""',
        f"    {d.e} = await self.repo.get_{d.e}({d.e}_id)",
        *_not_found(d, d.e, f"{d.e}_id"),
        f"    return {d.e}",
    ])


def c_record_activity(s: Spec, v: str) -> Method:
    """A commit other services call: returns nothing, reads only what it set."""
    d = s.d
    return Method(f"record_{d.e}_activity{v}", [
        f"async def record_{d.e}_activity{v}(self, {d.e}_id: int, note: str) -> None:",
        f"    {d.e} = await self.db.get({d.E}, {d.e}_id)",
        *_not_found(d, d.e, f"{d.e}_id"),
        f"    {d.e}.notes = note[:500]",
        "    await self.db.commit()",
        f'    logger.info("activity on {d.e} %s: %s", {d.e}.id, note)',
    ])


def s_add_commit_refresh(s: Spec, v: str) -> Method:
    d = s.d
    return Method(f"add_{d.e}{v}", [
        f"async def add_{d.e}{v}(self, data: {d.E}Create) -> {d.E}:",
        "    if await self.name_taken(data.name):",
        f'        raise ConflictError(f"{d.E} {{data.name!r}} exists")',
        f"    {d.e} = {d.E}(**data.model_dump())",
        f"    self.db.add({d.e})",
        "    await self.db.commit()",
        f"    await self.db.refresh({d.e})",
        f"    return {d.e}",
    ], Route("post", "/new" + v.replace("_", "-"), f"add_{d.e}{v}", f"add_{d.e}{v}",
             f"{d.E}Out", (f"data: {d.E}Create",), "data", status="status.HTTP_201_CREATED"))


def s_patch_setattr_refresh(s: Spec, v: str) -> Method:
    d = s.d
    return Method(f"patch_{d.e}{v}", [
        f"async def patch_{d.e}{v}(self, {d.e}_id: int, data: {d.E}Update) -> {d.E}:",
        f"    {d.e} = await self.db.get({d.E}, {d.e}_id)",
        *_not_found(d, d.e, f"{d.e}_id"),
        "    changes = data.model_dump(exclude_unset=True)",
        '    if "name" in changes:',
        '        changes["name"] = self._normalize_name(changes["name"])',
        "    for field, value in changes.items():",
        f"        setattr({d.e}, field, value)",
        "    await self.db.commit()",
        f"    await self.db.refresh({d.e})",
        f"    return {d.e}",
    ], Route("patch", f"/{{{d.e}_id}}/fields" + v.replace("_", "-"), f"patch_{d.e}{v}",
             f"patch_{d.e}{v}", f"{d.E}Out", (f"{d.e}_id: int", f"data: {d.E}Update"),
             f"{d.e}_id, data"))


def s_replace_getter_refresh(s: Spec, v: str) -> Method:
    d = s.d
    extras = [f"    {d.e}.{col[0]} = data.{col[0]}" for col in d.extras[:2]]
    return Method(f"replace_{d.e}{v}", [
        f"async def replace_{d.e}{v}(self, {d.e}_id: int, data: {d.E}Create) -> {d.E}:",
        f"    {d.e} = {s.own_getter(f'{d.e}_id')}",
        f"    {d.e}.name = self._normalize_name(data.name)",
        f"    {d.e}.notes = data.notes",
        *extras,
        "    await self.db.commit()",
        f"    await self.db.refresh({d.e})",
        f"    return {d.e}",
    ], Route("put", f"/{{{d.e}_id}}" + v.replace("_", "/"), f"replace_{d.e}{v}",
             f"replace_{d.e}{v}", f"{d.E}Out", (f"{d.e}_id: int", f"data: {d.E}Create"),
             f"{d.e}_id, data"))


def s_suspend_brief(s: Spec, v: str) -> Method:
    """An UPDATE commit returned to a schema that reads only loaded attributes."""
    d = s.d
    return Method(f"suspend_{d.e}{v}", [
        f"async def suspend_{d.e}{v}(self, {d.e}_id: int) -> {d.E}:",
        f"    {d.e} = await self.db.get({d.E}, {d.e}_id)",
        *_not_found(d, d.e, f"{d.e}_id"),
        f"    {d.e}.status = {d.Status}.DRAFT",
        "    await self.db.commit()",
        f"    return {d.e}",
    ], Route("post", f"/{{{d.e}_id}}/suspend" + v.replace("_", "-"), f"suspend_{d.e}{v}",
             f"suspend_{d.e}{v}", f"{d.E}Brief", (f"{d.e}_id: int",), f"{d.e}_id"))


def s_bulk_status(s: Spec, v: str) -> Method:
    d = s.d
    return Method(f"archive_{d.es}{v}", [
        f"async def archive_{d.es}{v}(self, ids: list[int]) -> int:",
        f"    stmt = select({d.E}).where({d.E}.id.in_(ids), {d.E}.status != {d.Status}.ARCHIVED)",
        f"    {d.es} = (await self.db.execute(stmt)).scalars().all()",
        f"    for {d.e} in {d.es}:",
        f"        {d.e}.status = {d.Status}.ARCHIVED",
        "    await self.db.commit()",
        f'    logger.info("archived %d {d.es}", len({d.es}))',
        f"    return len({d.es})",
    ])


def s_add_children(s: Spec, v: str) -> Method:
    d = s.d
    return Method(f"add_{d.rel}{v}", [
        f"async def add_{d.rel}{v}(self, {d.e}_id: int, labels: list[str]) -> dict[str, Any]:",
        f"    {d.e} = {s.own_getter(f'{d.e}_id')}",
        "    for label in labels:",
        f"        self.db.add({d.C}({d.fk}={d.e}.id, label=label, quantity=1))",
        "    await self.db.flush()",
        f"    {d.e}.status = {d.Status}.ACTIVE",
        "    await self.db.commit()",
        f'    return {{"id": {d.e}.id, "added": len(labels)}}',
    ])


def s_remove_commit(s: Spec, v: str) -> Method:
    d = s.d
    return Method(f"remove_{d.e}{v}", [
        f"async def remove_{d.e}{v}(self, {d.e}_id: int) -> None:",
        f"    {d.e} = {s.own_getter(f'{d.e}_id')}",
        f"    await self.db.delete({d.e})",
        "    await self.db.commit()",
        f'    logger.info("removed {d.e} %s", {d.e}_id)',
    ])


def s_retire(s: Spec, v: str) -> Method:
    d = s.d
    return Method(f"retire_{d.e}{v}", [
        f"async def retire_{d.e}{v}(self, {d.e}_id: int) -> dict[str, Any]:",
        f"    {d.e} = {s.own_getter(f'{d.e}_id')}",
        f"    {d.e}.deleted_at = datetime.now(timezone.utc)",
        f"    {d.e}.status = {d.Status}.ARCHIVED",
        "    await self.db.commit()",
        f'    return {{"id": {d.e}.id, "status": {d.e}.status.value}}',
    ])


def s_compose(s: Spec, v: str) -> Method:
    d = s.d
    return Method(f"compose_{d.e}{v}", [
        f"async def compose_{d.e}{v}(self, data: {d.E}Create, labels: list[str]) -> {d.E}:",
        f"    {d.e} = {d.E}({synthetic._given(d)})",
        f"    self.db.add({d.e})",
        "    await self.db.flush()",
        f"    self.db.add_all([{d.C}({d.fk}={d.e}.id, label=label) for label in labels])",
        "    await self.db.commit()",
        f"    await self.db.refresh({d.e})",
        f"    return {d.e}",
    ], Route("post", "/compose" + v.replace("_", "-"), f"compose_{d.e}{v}", f"compose_{d.e}{v}",
             f"{d.E}Out", (f"data: {d.E}Create", "labels: list[str] = Query(default=[])"),
             "data, labels", status="status.HTTP_201_CREATED"))


def s_upsert(s: Spec, v: str) -> Method:
    d = s.d
    return Method(f"upsert_{d.e}{v}", [
        f"async def upsert_{d.e}{v}(self, data: {d.E}Create) -> {d.E}:",
        f"    stmt = select({d.E}).where(func.lower({d.E}.name) == data.name.lower())",
        f"    {d.e} = (await self.db.execute(stmt)).scalar_one_or_none()",
        f"    if {d.e} is None:",
        f"        {d.e} = {d.E}(**data.model_dump())",
        f"        self.db.add({d.e})",
        "    else:",
        "        for field, value in data.model_dump(exclude_unset=True).items():",
        f"            setattr({d.e}, field, value)",
        "    await self.db.commit()",
        f"    await self.db.refresh({d.e})",
        f"    return {d.e}",
    ], Route("put", "/by-name" + v.replace("_", "-"), f"upsert_{d.e}{v}", f"upsert_{d.e}{v}",
             f"{d.E}Out", (f"data: {d.E}Create",), "data"))


def s_claim_name(s: Spec, v: str) -> Method:
    d = s.d
    return Method(f"claim_{d.e}_name{v}", [
        f"async def claim_{d.e}_name{v}(self, {d.e}_id: int, name: str) -> str:",
        f"    {d.e} = {s.own_getter(f'{d.e}_id')}",
        f"    {d.e}.name = self._normalize_name(name)",
        "    try:",
        "        await self.db.commit()",
        "    except IntegrityError:",
        "        await self.db.rollback()",
        '        raise ConflictError(f"name {name!r} is taken") from None',
        "    return name",
    ])


def s_save_via_repository(s: Spec, v: str) -> Method:
    d = s.d
    return Method(f"register_{d.e}_draft{v}", [
        f"async def register_{d.e}_draft{v}(self, data: {d.E}Create) -> {d.E}:",
        f"    {d.e} = {d.E}(name=self._normalize_name(data.name), notes=data.notes,"
        f" status={d.Status}.DRAFT)",
        f"    return await self.repo.save({d.e})",
    ], Route("post", "/drafts" + v.replace("_", "-"), f"register_{d.e}_draft{v}",
             f"register_{d.e}_draft{v}", f"{d.E}Out", (f"data: {d.E}Create",), "data",
             status="status.HTTP_201_CREATED"))


def s_link_partner(s: Spec, v: str) -> Method:
    """A call of another service that commits, then an UPDATE commit; reads the key only."""
    d, o = s.d, s.partners[0]
    return Method(f"link_{o.m}{v}", [
        f"async def link_{o.m}{v}(self, {d.e}_id: int, {o.m}_id: int) -> dict[str, Any]:",
        f"    {d.e} = await self.db.get({d.E}, {d.e}_id)",
        *_not_found(d, d.e, f"{d.e}_id"),
        f'    await self.{s.svc(o)}.record_{o.e}_activity({o.m}_id, f"linked to {d.e} {{{d.e}_id}}")',
        f"    {d.e}.{o.m}_id = {o.m}_id",
        "    await self.db.commit()",
        f'    return {{"id": {d.e}.id, "{o.m}_id": {o.m}_id}}',
    ])


def s_copy_from_partner(s: Spec, v: str) -> Method:
    """An object of another domain from its service's getter, read for a new object."""
    d, o = s.d, s.partners[-1]
    return Method(f"import_from_{o.m}{v}", [
        f"async def import_from_{o.m}{v}(self, {o.m}_id: int) -> {d.E}:",
        f"    {o.m} = {s.service_getter(f'{o.m}_id', o)}",
        f'    {d.e} = {d.E}(name={o.m}.name, notes=f"from {o.m} {{{o.m}.id}}", {o.m}_id={o.m}.id)',
        f"    self.db.add({d.e})",
        "    await self.db.commit()",
        f"    await self.db.refresh({d.e})",
        f"    return {d.e}",
    ])


def s_history(s: Spec, v: str) -> Method:
    """A history row per change: flush for the event's key, commit at the end."""
    d = s.d
    return Method(f"log_{d.e}_event{v}", [
        f"async def log_{d.e}_event{v}(self, {d.e}_id: int, kind: str) -> int:",
        f"    event = {s.H}({d.fk}={d.e}_id, kind=kind, payload={{}})",
        "    self.db.add(event)",
        "    await self.db.flush()",
        f'    logger.debug("event %s on {d.e} %s", event.id, {d.e}_id)',
        "    await self.db.commit()",
        "    return event.id",
    ])


# Long methods without a site: most of a real service's lines -----------------------------


def _columns(s: Spec) -> Tuple[tuple, ...]:
    return s.d.extras + s.columns


def p_validate(s: Spec, v: str) -> Method:
    d = s.d
    lines = [
        f"def _validate_{d.e}_payload{v}(self, data: {d.E}Create) -> list[str]:",
        f'    """Every rule a new {d.e.replace("_", " ")} must satisfy, as messages."""',
        "    errors: list[str] = []",
        "    if not data.name.strip():",
        '        errors.append("name: must not be blank")',
        "    if data.notes is not None and len(data.notes) > 10_000:",
        '        errors.append("notes: at most 10,000 characters")',
    ]
    for name, annotation, _, _, _ in _columns(s):
        check = {"str": f"len(data.{name}) > 255", "int": f"data.{name} < 0",
                 "Decimal": f"data.{name} < 0", "float": f"not 0 <= data.{name} <= 1",
                 "bool": f"not isinstance(data.{name}, bool)"}.get(
            annotation.split(" ")[0], f"data.{name} == \"\"")
        guard = f"data.{name} is not None and " if "None" in annotation else ""
        lines += [f"    if {guard}{check}:", f'        errors.append("{name}: invalid value")']
    lines.append("    return errors")
    return Method(f"_validate_{d.e}_payload{v}", lines)


def p_find(s: Spec, v: str) -> Method:
    d = s.d
    cols = _columns(s)[:6]
    lines = [
        f"async def find_{d.es}{v}(",
        "    self,",
        "    *,",
        "    name: str | None = None,",
        f"    status: {d.Status} | None = None,",
        *[f"    {name}: {ann.replace(' | None', '')} | None = None," for name, ann, *_ in cols],
        "    offset: int = 0,",
        "    limit: int = 50,",
        f") -> list[{d.E}]:",
        f"    stmt = select({d.E}).where({d.E}.deleted_at.is_(None))",
        "    if name:",
        f'        stmt = stmt.where({d.E}.name.ilike(f"%{{name}}%"))',
        "    if status is not None:",
        f"        stmt = stmt.where({d.E}.status == status)",
    ]
    for name, *_ in cols:
        lines += [f"    if {name} is not None:", f"        stmt = stmt.where({d.E}.{name} == {name})"]
    lines += [
        f"    stmt = stmt.order_by({d.E}.updated_at.desc()).offset(offset).limit(limit)",
        "    return list((await self.db.execute(stmt)).scalars().all())",
    ]
    return Method(f"find_{d.es}{v}", lines, Route(
        "get", "/find" + v.replace("_", "-"), f"find_{d.es}{v}", f"find_{d.es}{v}",
        f"list[{d.E}Out]", ("name: str | None = None", f"status: {d.Status} | None = None",
                            "offset: int = 0", "limit: int = Query(50, le=200)"),
        "name=name, status=status, offset=offset, limit=limit"))


def p_export(s: Spec, v: str) -> Method:
    d = s.d
    return Method(f"export_{d.es}{v}", [
        f"async def export_{d.es}{v}(self, ids: list[int] | None = None) -> list[dict[str, Any]]:",
        f"    stmt = select({d.E}).order_by({d.E}.id)",
        "    if ids:",
        f"        stmt = stmt.where({d.E}.id.in_(ids))",
        "    rows: list[dict[str, Any]] = []",
        f"    for {d.e} in (await self.db.execute(stmt)).scalars():",
        "        rows.append({",
        f'            "id": {d.e}.id,',
        f'            "name": {d.e}.name,',
        f'            "status": {d.e}.status.value,',
        *[f'            "{name}": {d.e}.{name},' for name, *_ in _columns(s)],
        f'            "created_at": {d.e}.created_at.isoformat(),',
        f'            "updated_at": {d.e}.updated_at.isoformat(),',
        "        })",
        f'    logger.info("exported %d {d.es}", len(rows))',
        "    return rows",
    ], Route("get", "/export" + v.replace("_", "-"), f"export_{d.es}{v}", f"export_{d.es}{v}",
             None, (), ""))


def p_dashboard(s: Spec, v: str) -> Method:
    d = s.d
    return Method(f"dashboard{v}", [
        f"async def dashboard{v}(self, *, days: int = 30) -> dict[str, Any]:",
        f'    """Counts and recent activity of {d.es} for the admin dashboard."""',
        "    by_status = dict(",
        "        (",
        "            await self.db.execute(",
        f"                select({d.E}.status, func.count({d.E}.id)).group_by({d.E}.status)",
        "            )",
        "        ).all()",
        "    )",
        "    recent = (",
        "        await self.db.execute(",
        f"            select({d.E}.id, {d.E}.name, {d.E}.updated_at)",
        f"            .order_by({d.E}.updated_at.desc())",
        "            .limit(10)",
        "        )",
        "    ).all()",
        f"    {d.rel} = (",
        f"        await self.db.execute(select(func.count({d.C}.id)))",
        "    ).scalar_one()",
        "    return {",
        '        "by_status": {status.value: count for status, count in by_status.items()},',
        '        "recent": [{"id": row.id, "name": row.name, "at": row.updated_at} for row in recent],',
        f'        "{d.rel}": {d.rel},',
        '        "days": days,',
        "    }",
    ], Route("get", "/dashboard" + v.replace("_", "-"), f"dashboard{v}", f"dashboard{v}", None,
             ("days: int = 30",), "days=days"))


# Long update and create methods: every field by name -----------------------------------


def long_update(mode: str) -> Template:
    """``update_<e>``: load, check, copy each changed field, commit, return to ``<E>Out``.

    ``mode`` is ``safe`` (refreshed before it is returned), ``planted`` (loaded with
    ``db.get``, not refreshed: FG004) or ``latent`` (from the getter, not refreshed: FG004
    today's analysis does not see)."""

    def template(s: Spec, v: str) -> Method:
        d = s.d
        load = (s.own_getter(f"{d.e}_id") if mode == "latent"
                else f"await self.db.get({d.E}, {d.e}_id)")
        lines = [
            f"async def update_{d.e}_details{v}(",
            f"    self, {d.e}_id: int, data: {d.E}Update, *, actor_id: int | None = None",
            f") -> {d.E}:",
            '    """Apply the fields ``data`` sets; the name must stay unique."""',
            f"    {d.e} = {load}",
            *(_not_found(d, d.e, f"{d.e}_id") if mode != "latent" else []),
            f"    if {d.e}.deleted_at is not None:",
            f'        raise ConflictError(f"{d.E} {{{d.e}_id}} is deleted")',
            "    changes = data.model_dump(exclude_unset=True)",
            '    if "name" in changes:',
            '        name = self._normalize_name(changes["name"])',
            f"        if name != {d.e}.name and await self.name_taken(name, exclude_id={d.e}_id):",
            f'            raise ConflictError(f"{d.E} {{name!r}} exists")',
            f"        {d.e}.name = name",
            '    if "notes" in changes:',
            f'        {d.e}.notes = (changes["notes"] or "").strip() or None',
        ]
        for name, annotation, *_ in _columns(s):
            lines += [f'    if "{name}" in changes:']
            if annotation.startswith("str"):
                lines += [f'        value = changes["{name}"]',
                          f"        {d.e}.{name} = value.strip() if isinstance(value, str) else value"]
            else:
                lines += [f'        {d.e}.{name} = changes["{name}"]']
        lines += [
            "    if actor_id is not None:",
            f"        {d.e}.updated_by_id = actor_id",
            "    await self.db.commit()",
        ]
        if mode == "safe":
            lines += [f"    await self.db.refresh({d.e})", f"    return {d.e}"]
        else:
            lines += [f'    logger.info("updated {d.e} %s: %s", {d.e}_id, sorted(changes))',
                      f"    return {d.e}" + (MARK + "FG004" if mode == "planted"
                                              else s.latent("FG004"))]
        return Method(f"update_{d.e}_details{v}", lines, Route(
            "put", f"/{{{d.e}_id}}/details" + v.replace("_", "-"), f"update_{d.e}_details{v}",
            f"update_{d.e}_details{v}", f"{d.E}Out", (f"{d.e}_id: int", f"data: {d.E}Update"),
            f"{d.e}_id, data"))

    template.__name__ = f"update_{mode}"
    return template


def s_create_full(s: Spec, v: str) -> Method:
    """Every field given by name; committed and refreshed before it is returned."""
    d = s.d
    return Method(f"create_{d.e}_full{v}", [
        f"async def create_{d.e}_full{v}(",
        f"    self, data: {d.E}Create, *, actor_id: int | None = None",
        f") -> {d.E}:",
        "    errors = self._check_payload(data)",
        "    if errors:",
        '        raise ValidationError("; ".join(errors))',
        "    if await self.name_taken(data.name):",
        f'        raise ConflictError(f"{d.E} {{data.name!r}} exists")',
        f"    {d.e} = {d.E}(",
        "        name=self._normalize_name(data.name),",
        "        notes=data.notes,",
        f"        status={d.Status}.DRAFT,",
        *[f"        {name}=data.{name}," for name, *_ in _columns(s)],
        "        created_by_id=actor_id,",
        "        updated_by_id=actor_id,",
        "    )",
        f"    self.db.add({d.e})",
        "    await self.db.commit()",
        f"    await self.db.refresh({d.e})",
        f'    logger.info("created {d.e} %s", {d.e}.id)',
        f"    return {d.e}",
    ], Route("post", "/full" + v.replace("_", "-"), f"create_{d.e}_full{v}",
             f"create_{d.e}_full{v}", f"{d.E}Out", (f"data: {d.E}Create",), "data",
             status="status.HTTP_201_CREATED"))


def p_check_payload(s: Spec, v: str) -> Method:
    """What ``create_<e>_full`` calls: every field checked, no session."""
    method = p_validate(s, v)
    method.lines[0] = method.lines[0].replace(f"_validate_{s.d.e}_payload{v}",
                                              f"_check_payload{v}")
    method.name = f"_check_payload{v}"
    return method


def s_notify_many(s: Spec, v: str) -> Method:
    """Calls the service's own committing method in a loop (a commit for this method)."""
    d = s.d
    return Method(f"notify_{d.es}{v}", [
        f"async def notify_{d.es}{v}(self, ids: list[int], note: str) -> int:",
        "    done = 0",
        f"    for {d.e}_id in sorted(set(ids)):",
        "        try:",
        f"            await self.record_{d.e}_activity({d.e}_id, note)",
        "        except NotFoundError:",
        f'            logger.warning("no {d.e} %s to notify", {d.e}_id)',
        "            continue",
        "        done += 1",
        f'    logger.info("notified %d of %d {d.es}", done, len(ids))',
        "    return done",
    ])


# Real bugs today's analysis does not see: the object comes from a getter --------------


def l_edit_returned(s: Spec, v: str) -> Method:
    """The object from a getter, changed with setattr, committed and returned to ``<E>Out``
    (``updated_at`` is expired by the UPDATE): FG004."""
    d = s.d
    return Method(f"edit_{d.e}{v}", [
        f"async def edit_{d.e}{v}(self, {d.e}_id: int, data: {d.E}Update) -> {d.E}:",
        f"    {d.e} = {s.own_getter(f'{d.e}_id')}",
        "    for field, value in data.model_dump(exclude_unset=True).items():",
        f"        setattr({d.e}, field, value)",
        "    await self.db.commit()",
        f"    return {d.e}" + s.latent("FG004"),
    ], Route("patch", f"/{{{d.e}_id}}/edit" + v.replace("_", "-"), f"edit_{d.e}{v}",
             f"edit_{d.e}{v}", f"{d.E}Out", (f"{d.e}_id: int", f"data: {d.E}Update"),
             f"{d.e}_id, data"))


def l_publish_returned(s: Spec, v: str) -> Method:
    d = s.d
    return Method(f"publish_{d.e}{v}", [
        f"async def publish_{d.e}{v}(self, {d.e}_id: int) -> {d.E}:",
        f"    {d.e} = {s.own_getter(f'{d.e}_id')}",
        f"    self._check_transition({d.e}.status, {d.Status}.ACTIVE)",
        f"    {d.e}.status = {d.Status}.ACTIVE",
        "    await self.db.commit()",
        f'    logger.info("published {d.e} %s", {d.e}.id)',
        f"    return {d.e}" + s.latent("FG004"),
    ], Route("post", f"/{{{d.e}_id}}/publish" + v.replace("_", "-"), f"publish_{d.e}{v}",
             f"publish_{d.e}{v}", f"{d.E}Out", (f"{d.e}_id: int",), f"{d.e}_id"))


def l_stamp_read(s: Spec, v: str) -> Method:
    """The object from the repository, changed, flushed, then ``updated_at`` read: FG001."""
    d = s.d
    return Method(f"stamp_{d.e}{v}", [
        f"async def stamp_{d.e}{v}(self, {d.e}_id: int, note: str) -> dict[str, Any]:",
        f"    {d.e} = {s.repo_getter(f'{d.e}_id')}",
        *_not_found(d, d.e, f"{d.e}_id"),
        f"    {d.e}.notes = note",
        "    await self.db.flush()",
        "    return {",
        f'        "id": {d.e}.id,',
        f'        "notes": {d.e}.notes,',
        f'        "updated_at": {d.e}.updated_at.isoformat(),' + s.latent("FG001"),
        "    }",
    ])


# Planted bugs the analysis sees ---------------------------------------------------------


def b_apply_setattr_returned(s: Spec, v: str) -> Method:
    """Loaded, changed with setattr over a dict, committed, returned to ``<E>Out``: FG004."""
    d = s.d
    return Method(f"apply_{d.e}_changes{v}", [
        f"async def apply_{d.e}_changes{v}(self, {d.e}_id: int, data: {d.E}Update) -> {d.E}:",
        f"    {d.e} = await self.db.get({d.E}, {d.e}_id)",
        *_not_found(d, d.e, f"{d.e}_id"),
        "    for field, value in data.model_dump(exclude_unset=True).items():",
        f"        setattr({d.e}, field, value)",
        "    await self.db.commit()",
        f"    return {d.e}" + MARK + "FG004",
    ], Route("patch", f"/{{{d.e}_id}}/apply" + v.replace("_", "-"), f"apply_{d.e}_changes{v}",
             f"apply_{d.e}_changes{v}", f"{d.E}Out", (f"{d.e}_id: int", f"data: {d.E}Update"),
             f"{d.e}_id, data"))


def b_typed_helper(s: Spec, v: str) -> Method:
    """A private helper changes the object it is given and flushes; the public method returns
    what it returns to ``<E>Out``: FG004 at the helper's return."""
    d = s.d
    return Method(f"amend_{d.e}{v}", [
        f"async def _amend{v}(self, {d.e}: {d.E}, data: {d.E}Update) -> {d.E}:",
        "    if data.name is not None:",
        f"        {d.e}.name = self._normalize_name(data.name)",
        "    if data.notes is not None:",
        f"        {d.e}.notes = data.notes",
        "    await self.db.flush()",
        f"    return {d.e}" + MARK + "FG004",
        "",
        f"async def amend_{d.e}{v}(self, {d.e}_id: int, data: {d.E}Update) -> {d.E}:",
        f"    {d.e} = {s.own_getter(f'{d.e}_id')}",
        f"    return await self._amend{v}({d.e}, data)",
    ], Route("patch", f"/{{{d.e}_id}}/amend" + v.replace("_", "-"), f"amend_{d.e}{v}",
             f"amend_{d.e}{v}", f"{d.E}Out", (f"{d.e}_id: int", f"data: {d.E}Update"),
             f"{d.e}_id, data"))


def b_reopen_logged(s: Spec, v: str) -> Method:
    """``updated_at`` logged after an UPDATE commit: FG001."""
    d = s.d
    return Method(f"reopen_{d.e}{v}", [
        f"async def reopen_{d.e}{v}(self, {d.e}_id: int) -> int:",
        f"    {d.e} = await self.db.get({d.E}, {d.e}_id)",
        *_not_found(d, d.e, f"{d.e}_id"),
        f"    {d.e}.status = {d.Status}.DRAFT",
        "    await self.db.commit()",
        f'    logger.info("reopened {d.e} %s (last change %s)", {d.e}.id, {d.e}.updated_at)'
        + MARK + "FG001",
        f"    return {d.e}.id",
    ])


#: Always present once, unsuffixed: other templates, services, routers and jobs call them.
REQUIRED = (m_get, m_list, m_exists, m_normalize, m_transition)
#: The long update's mode, in a cycle over the domains.
UPDATE_MODES = ("safe", "planted", "safe", "latent")
LONG_PLAIN = (p_validate, p_find, p_export, p_dashboard)
REQUIRED_SERVICE = (g_get_or_404, c_record_activity, p_check_payload)
NEW_SAFE = (s_add_commit_refresh, s_patch_setattr_refresh, s_replace_getter_refresh,
            s_suspend_brief, s_bulk_status, s_add_children, s_remove_commit, s_retire, s_compose,
            s_upsert, s_claim_name, s_save_via_repository)
PARTNER_SAFE = (s_link_partner, s_copy_from_partner)
NEW_BUGS = (b_apply_setattr_returned, b_typed_helper, b_reopen_logged)
LATENT_SHAPES = (l_edit_returned, l_publish_returned, l_stamp_read)
#: Planted bugs and latent ones per service, in cycles over the domains.
BUG_COUNTS = (2, 1, 3, 2, 1, 3, 2, 2)
LATENT_COUNTS = (1, 1, 0, 1, 1, 0, 1, 1)
#: Safe templates whose names and routes take a variant suffix (repeated in long services).
REPEATABLE_SAFE = tuple(t for t in SAFE if t is not s_create_refresh) + NEW_SAFE \
    + (s_notify_many,)
REPEATABLE_PLAIN = tuple(PLAIN[1:]) + tuple(HELPERS[1:]) + LONG_PLAIN + LONG_PLAIN
#: In a long service (workflow), the share of further methods that flush or commit.
SITE_SHARE = 0.015
WORKFLOW_SITE_SHARE = 0.03


SERVICE_HEADER = """\
import logging
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.core.errors import ConflictError, NotFoundError, ValidationError
from app.db.base import Base
"""


@dataclass
class Plan:
    text: str
    routes: List[Tuple[str, Route]]   # (the class that serves it, the route)
    marks: List[Tuple[int, str]]
    latent: List[Tuple[int, str]]


def _emit(src: Source, method: Method, routes: List[Tuple[str, Route]], owner: str) -> None:
    src.blank()
    for line in method.lines:
        src.add(("    " + line) if line else "")
    if method.route is not None:
        routes.append((owner, method.route))


def _imports(s: Spec, src: Source, *, service: bool) -> None:
    d = s.d
    models = sorted({d.C, d.E, d.Status} | ({s.H} if s.history else set()))
    src.add(f"from app.models.{d.m} import {', '.join(models)}")
    for o in s.partners:
        src.add(f"from app.models.{o.m} import {o.E}")
    src.add(f"from app.repositories.{d.m} import {d.R}",
            f"from app.schemas.{d.m} import {d.E}Create, {d.E}Update")
    if not service:
        src.add(f"from app.services.{d.m} import {d.S}")
    for o in s.partners:
        src.add(f"from app.services.{o.m} import {o.S}")


#: GET routes for synthetic.py's query methods (which have none there).
PLAIN_ROUTES: Dict[Callable, Callable[[Domain, str], Route]] = {
    synthetic.m_search: lambda d, v: Route(
        "get", "/search" + v.replace("_", "-"), f"search_{d.es}{v}", f"search_{d.es}{v}",
        f"list[{d.E}Brief]", ("q: str", "limit: int = Query(20, le=100)"), "q, limit"),
    synthetic.m_count: lambda d, v: Route(
        "get", "/count" + v.replace("_", "-"), f"count_{d.es}{v}", f"count_{d.es}{v}", None,
        (f"status: {d.Status} | None = None",), "status"),
    synthetic.m_stats: lambda d, v: Route(
        "get", "/stats" + v.replace("_", "-"), f"status_breakdown{v}", f"status_breakdown{v}",
        None, (), ""),
    synthetic.m_detail: lambda d, v: Route(
        "get", f"/{{{d.e}_id}}/detail" + v.replace("_", "-"), f"get_{d.e}_detail{v}",
        f"get_{d.e}_detail{v}", None, (f"{d.e}_id: int",), f"{d.e}_id",
        returns_none_check=True),
}


def service_module(rng: random.Random, s: Spec, target: int) -> Plan:
    d = s.d
    pool = list(BUGS) + list(NEW_BUGS)
    bugs = rng.sample(pool, BUG_COUNTS[d.index % len(BUG_COUNTS)])
    latent = rng.sample(LATENT_SHAPES, LATENT_COUNTS[d.index % len(LATENT_COUNTS)])
    safe_pool = list(SAFE) + list(NEW_SAFE) + ([s_history] if s.history else [])
    safe = rng.sample(safe_pool, rng.randint(0, 1)) + [s_notify_many] * (rng.random() < 0.5)
    safe += [s_create_full] * (rng.random() < 0.5)
    if s.partners and rng.random() < 0.35:
        safe.append(rng.choice(PARTNER_SAFE))
    update = long_update(UPDATE_MODES[d.index % len(UPDATE_MODES)])
    chosen: List[Template] = (list(REQUIRED) + list(REQUIRED_SERVICE) + [update] + bugs + latent
                              + safe)
    optional = [t for t in PLAIN + HELPERS + LONG_PLAIN if t not in REQUIRED]
    chosen += rng.sample(optional, rng.randint(3, len(optional)))
    rng.shuffle(chosen)
    src = Source()
    src.add(f'"""Business rules of {d.es}: creation, updates, state changes and queries."""', "")
    src.add(SERVICE_HEADER.rstrip("\n"))
    _imports(s, src, service=True)
    src.blank()
    src.add("logger = logging.getLogger(__name__)")
    src.blank(2)
    src.add(f"class {d.S}:",
            f'    """Everything the API does with {d.es}; one instance per request."""',
            "",
            "    MAX_PAGE = 200",
            "",
            "    def __init__(self, db: AsyncSession) -> None:",
            "        self.db = db",
            f"        self.repo = {d.R}(db)")
    for o in s.partners:
        src.add(f"        self.{s.svc(o)} = {o.S}(db)")
    if synthetic.b_create_returned in bugs:
        src.add("",
                "    async def _save(self, obj: Base) -> None:",
                "        self.db.add(obj)",
                "        await self.db.flush()")
    routes: List[Tuple[str, Route]] = []
    names: Dict[str, int] = {}

    def emit(template: Template, variant: str) -> None:
        method = template(s, variant) if _takes_spec(template) else template(d, variant)
        if method.route is None and template in PLAIN_ROUTES:
            method.route = PLAIN_ROUTES[template](d, variant)
        _emit(src, method, routes, d.S)

    for template in chosen:
        names[template.__name__] = 1
        emit(template, "")
    # Long services repeat plain and safe shapes under new names (v2, v3, ...); a few of the
    # further methods flush or commit.
    while len(src) < target:
        template = rng.choice(REPEATABLE_SAFE if rng.random() < SITE_SHARE else REPEATABLE_PLAIN)
        names[template.__name__] = names.get(template.__name__, 0) + 1
        emit(template, f"_v{names[template.__name__]}")
    return Plan(src.text(), routes, src.marks, src.latent)


def _takes_spec(template: Callable) -> bool:
    """This module's templates take a :class:`Spec`; synthetic.py's a :class:`Domain`."""
    return template.__module__ == __name__


# --------------------------------------------------------------------------
# The workflow: a service that orchestrates others
# --------------------------------------------------------------------------


def w_submit(s: Spec, v: str) -> Method:
    d = s.d
    lines = [
        f"async def submit_{d.e}{v}(self, {d.e}_id: int) -> {d.E}:",
        f"    {d.e} = {s.service_getter(f'{d.e}_id')}",
        f"    {d.e}.status = {d.Status}.ACTIVE",
    ]
    for o in s.partners:
        lines.append(f"    if {d.e}.{o.m}_id is not None:")
        lines.append(f"        await self.{s.svc(o)}.record_{o.e}_activity({d.e}.{o.m}_id,"
                     f' "{d.e} submitted")')
    lines += ["    await self.db.commit()", f"    await self.db.refresh({d.e})", f"    return {d.e}"]
    return Method(f"submit_{d.e}{v}", lines, Route(
        "post", f"/{{{d.e}_id}}/submit" + v.replace("_", "-"), f"submit_{d.e}{v}",
        f"submit_{d.e}{v}", f"{d.E}Out", (f"{d.e}_id: int",), f"{d.e}_id"))


def w_close(s: Spec, v: str) -> Method:
    d = s.d
    return Method(f"close_{d.e}{v}", [
        f"async def close_{d.e}{v}(self, {d.e}_id: int) -> dict[str, Any]:",
        f"    {d.e} = {s.service_getter(f'{d.e}_id')}",
        f"    stmt = select({d.C}).where({d.C}.{d.fk} == {d.e}_id)",
        f"    {d.rel} = (await self.db.execute(stmt)).scalars().all()",
        f"    for {d.c} in {d.rel}:",
        f"        {d.c}.quantity = 0",
        f"    {d.e}.status = {d.Status}.ARCHIVED",
        "    await self.db.commit()",
        f'    return {{"id": {d.e}.id, "closed": len({d.rel})}}',
    ])


def w_clone(s: Spec, v: str) -> Method:
    d = s.d
    return Method(f"clone_{d.e}{v}", [
        f"async def clone_{d.e}{v}(self, {d.e}_id: int) -> {d.E}:",
        f"    source = {s.service_getter(f'{d.e}_id')}",
        f'    copy = {d.E}(name=f"{{source.name}} (copy)", notes=source.notes)',
        "    self.db.add(copy)",
        "    await self.db.flush()",
        f"    stmt = select({d.C}).where({d.C}.{d.fk} == {d.e}_id)",
        f"    for {d.c} in (await self.db.execute(stmt)).scalars():",
        f"        self.db.add({d.C}({d.fk}=copy.id, label={d.c}.label, quantity={d.c}.quantity))",
        "    await self.db.commit()",
        "    await self.db.refresh(copy)",
        "    return copy",
    ], Route("post", f"/{{{d.e}_id}}/clone" + v.replace("_", "-"), f"clone_{d.e}{v}",
             f"clone_{d.e}{v}", f"{d.E}Out", (f"{d.e}_id: int",), f"{d.e}_id",
             status="status.HTTP_201_CREATED"))


def w_bulk_import(s: Spec, v: str) -> Method:
    d = s.d
    return Method(f"bulk_import_{d.es}{v}", [
        f"async def bulk_import_{d.es}{v}(self, rows: list[{d.E}Create]) -> list[int]:",
        f"    created: list[{d.E}] = []",
        "    for row in rows:",
        f"        {d.e} = {d.E}(name=row.name.strip(), notes=row.notes)",
        f"        self.db.add({d.e})",
        f"        created.append({d.e})",
        "    await self.db.flush()",
        f"    ids = [{d.e}.id for {d.e} in created]",
        "    await self.db.commit()",
        f'    logger.info("imported %d {d.es}", len(ids))',
        "    return ids",
    ])


def w_reassign(s: Spec, v: str) -> Method:
    """Partners' objects from their getters; the change is committed, nothing unloaded read."""
    d, o = s.d, s.partners[0]
    return Method(f"reassign_{d.e}{v}", [
        f"async def reassign_{d.e}{v}(self, {d.e}_id: int, {o.m}_id: int) -> dict[str, Any]:",
        f"    {d.e} = {s.service_getter(f'{d.e}_id')}",
        f"    {o.m} = {s.service_getter(f'{o.m}_id', o)}",
        f"    {d.e}.{o.m}_id = {o.m}.id",
        f'    {d.e}.notes = f"assigned to {{{o.m}.name}}"',
        "    await self.db.commit()",
        f'    await self.{s.svc(o)}.record_{o.e}_activity({o.m}.id, f"took {d.e} {{{d.e}_id}}")',
        f'    return {{"id": {d.e}_id, "{o.m}_id": {o.m}.id, "notes": {d.e}.notes}}',
    ])


def w_created_logged(s: Spec, v: str) -> Method:
    """A new object committed, then its server default logged: FG001."""
    d = s.d
    return Method(f"open_{d.e}_case{v}", [
        f"async def open_{d.e}_case{v}(self, name: str) -> int:",
        f"    {d.e} = {d.E}(name=name.strip(), status={d.Status}.ACTIVE)",
        f"    self.db.add({d.e})",
        "    await self.db.commit()",
        f'    logger.info("opened {d.e} %s at %s", {d.e}.id, {d.e}.created_at)' + MARK + "FG001",
        f"    return {d.e}.id",
    ])


def w_edit_notify(s: Spec, v: str) -> Method:
    """The service's getter, setattr, commit, a partner told, the object returned to
    ``<E>Out``: FG004, latent."""
    d = s.d
    lines = [
        f"async def revise_{d.e}{v}(self, {d.e}_id: int, data: {d.E}Update) -> {d.E}:",
        f"    {d.e} = {s.service_getter(f'{d.e}_id')}",
        "    for field, value in data.model_dump(exclude_unset=True).items():",
        f"        setattr({d.e}, field, value)",
        "    await self.db.commit()",
    ]
    for o in s.partners[:1]:
        lines.append(f"    if {d.e}.{o.m}_id is not None:")
        lines.append(f'        await self.{s.svc(o)}.record_{o.e}_activity({d.e}.{o.m}_id, "revised")')
    lines.append(f"    return {d.e}" + s.latent("FG004"))
    return Method(f"revise_{d.e}{v}", lines, Route(
        "patch", f"/{{{d.e}_id}}/revise" + v.replace("_", "-"), f"revise_{d.e}{v}",
        f"revise_{d.e}{v}", f"{d.E}Out", (f"{d.e}_id: int", f"data: {d.E}Update"),
        f"{d.e}_id, data"))


WORKFLOW_SAFE = (w_submit, w_close, w_clone, w_bulk_import)
WORKFLOW_REPEATABLE = (w_close, w_bulk_import)


def workflow_module(rng: random.Random, s: Spec, target: int) -> Plan:
    d = s.d
    chosen: List[Template] = rng.sample(WORKFLOW_SAFE, 1)
    if s.partners and rng.random() < 0.5:
        chosen.append(w_reassign)
    if d.index % 3 == 1:
        chosen.append(w_created_logged)
    if d.index % 2 == 0:
        chosen.append(w_edit_notify)
    rng.shuffle(chosen)
    src = Source()
    src.add(f'"""Multi-step operations on {d.es} that involve other services."""', "")
    src.add(SERVICE_HEADER.rstrip("\n"))
    _imports(s, src, service=False)
    src.blank()
    src.add("logger = logging.getLogger(__name__)")
    src.blank(2)
    src.add(f"class {s.W}:",
            f'    """Orchestrates {d.S} and the services it touches, in one transaction."""',
            "",
            "    MAX_PAGE = 500",
            "",
            "    def __init__(self, db: AsyncSession) -> None:",
            "        self.db = db",
            f"        self.{s.svc(d)} = {d.S}(db)")
    for o in s.partners:
        src.add(f"        self.{s.svc(o)} = {o.S}(db)")
    src.add("",
            "    @staticmethod",
            "    def _normalize_name(raw: str) -> str:",
            '        return " ".join(raw.split()).capitalize()')
    routes: List[Tuple[str, Route]] = []
    names: Dict[str, int] = {}
    for template in chosen:
        names[template.__name__] = 1
        _emit(src, template(s, ""), routes, s.W)
    while len(src) < target:
        repeat = rng.random() < WORKFLOW_SITE_SHARE
        template = rng.choice(WORKFLOW_REPEATABLE if repeat else REPEATABLE_PLAIN)
        names[template.__name__] = names.get(template.__name__, 0) + 1
        variant = f"_v{names[template.__name__]}"
        method = template(s, variant) if repeat or _takes_spec(template) \
            else template(d, variant)
        _emit(src, method, routes, s.W)
    return Plan(src.text(), routes, src.marks, src.latent)


# --------------------------------------------------------------------------
# Routers, jobs, repositories, models, schemas
# --------------------------------------------------------------------------


def router_module(rng: random.Random, s: Spec, routes: Sequence[Tuple[str, Route]],
                  planted_child: bool) -> Source:
    d = s.d
    injected = rng.random() < 0.5
    src = Source()
    src.add(f'"""HTTP endpoints of {d.prefix}."""', "")
    src.add(
        "from typing import Annotated",
        "",
        "from fastapi import APIRouter, Depends, HTTPException, Query, status",
        "from pydantic import BaseModel",
        "from sqlalchemy.ext.asyncio import AsyncSession",
        "",
        "from app.api.deps import CurrentUser",
        "from app.db.session import get_db",
        f"from app.models.{d.m} import {d.C}, {d.E}",
        f"from app.schemas.{d.m} import (",
        f"    {d.C}Detail,",
        f"    {d.C}Out,",
        f"    {d.E}Brief,",
        f"    {d.E}Create,",
        f"    {d.E}Out,",
        f"    {d.E}Page,",
        f"    {d.E}Update,",
        ")",
        f"from app.services.{d.m} import {d.S}",
    )
    if s.workflow:
        src.add(f"from app.services.{d.m}_workflow import {s.W}")
    src.blank()
    src.add(f'router = APIRouter(prefix="{d.prefix}", tags=["{d.es.replace("_", "-")}"])')
    src.blank(2)
    src.add(f"class {d.C}In(BaseModel):", "    label: str", "    quantity: int = 1")
    if injected:
        src.blank(2)
        src.add(f"def get_{d.m}_service(db: AsyncSession = Depends(get_db)) -> {d.S}:",
                f"    return {d.S}(db)")
        src.blank(2)
        src.add(f"{d.S}Dep = Annotated[{d.S}, Depends(get_{d.m}_service)]")
    for owner, route in routes:
        src.blank(2)
        decorator = f'@router.{route.verb}("{route.path}"'
        if route.response_model:
            decorator += f", response_model={route.response_model}"
        if route.status:
            decorator += f", status_code={route.status}"
        src.add(decorator + ")")
        params = [p for p in route.params if "=" not in p]
        via_service = injected and owner == d.S
        params += [f"service: {d.S}Dep"] if via_service else []
        params += ["user: CurrentUser"] + [p for p in route.params if "=" in p]
        if via_service:
            call = f"await service.{route.method}({route.args})"
        else:
            params.append("db: AsyncSession = Depends(get_db)")
            call = f"await {owner}(db).{route.method}({route.args})"
        src.add(f"async def {route.handler}(", *[f"    {p}," for p in params], "):")
        if route.returns_none_check:
            src.add(f"    {d.e} = {call}",
                    f"    if {d.e} is None:",
                    f'        raise HTTPException(status.HTTP_404_NOT_FOUND, "{d.E} not found")',
                    f"    return {d.e}")
        else:
            src.add(f"    return {call}")
    # Endpoints that use the session themselves: they commit.
    if rng.random() < 0.3:
        _child_endpoint(src, d)
    if planted_child or rng.random() < 0.2:
        _child_detailed_endpoint(src, d, planted_child)
    if rng.random() < 0.4:
        _notes_endpoint(src, d)
    src.blank(2)
    src.add(f'@router.get("/page", response_model={d.E}Page)')
    src.add(f"async def page_{d.es}(offset: int = 0, limit: int = 50,"
            " db: AsyncSession = Depends(get_db)):",
            f"    items = await {d.S}(db).list_{d.es}(offset=offset, limit=limit)",
            f"    return {d.E}Page(items=items, total=len(items), offset=offset, limit=limit)")
    return src


def _child_endpoint(src: Source, d: Domain) -> None:
    """A new child committed and returned to a schema of given values and the key: safe."""
    src.blank(2)
    src.add(f'@router.post("/{{{d.e}_id}}/{d.rel}", response_model={d.C}Out,'
            " status_code=status.HTTP_201_CREATED)",
            f"async def create_{d.c}(",
            f"    {d.e}_id: int,",
            f"    body: {d.C}In,",
            "    user: CurrentUser,",
            "    db: AsyncSession = Depends(get_db),",
            "):",
            f"    {d.c} = {d.C}({d.fk}={d.e}_id, label=body.label, quantity=body.quantity)",
            f"    db.add({d.c})",
            "    await db.commit()",
            f"    return {d.c}")


def _child_detailed_endpoint(src: Source, d: Domain, planted: bool) -> None:
    """A new child committed and returned to a schema that reads ``created_at``: FG004 unless
    refreshed."""
    src.blank(2)
    src.add(f'@router.post("/{{{d.e}_id}}/{d.rel}/detailed", response_model={d.C}Detail,'
            " status_code=status.HTTP_201_CREATED)",
            f"async def create_{d.c}_detailed(",
            f"    {d.e}_id: int,",
            f"    body: {d.C}In,",
            "    user: CurrentUser,",
            "    db: AsyncSession = Depends(get_db),",
            "):",
            f"    {d.c} = {d.C}({d.fk}={d.e}_id, label=body.label, quantity=body.quantity)",
            f"    db.add({d.c})",
            "    await db.commit()")
    if planted:
        src.add(f"    return {d.c}" + MARK + "FG004")
    else:
        src.add(f"    await db.refresh({d.c})", f"    return {d.c}")


def _notes_endpoint(src: Source, d: Domain) -> None:
    """An UPDATE committed in the endpoint; only given values and the key read: safe."""
    src.blank(2)
    src.add(f'@router.post("/{{{d.e}_id}}/notes")',
            f"async def set_{d.e}_notes(",
            f"    {d.e}_id: int,",
            "    notes: str,",
            "    user: CurrentUser,",
            "    db: AsyncSession = Depends(get_db),",
            ") -> dict[str, object]:",
            f"    {d.e} = await db.get({d.E}, {d.e}_id)",
            f"    if {d.e} is None:",
            f'        raise HTTPException(status.HTTP_404_NOT_FOUND, "{d.E} not found")',
            f"    {d.e}.notes = notes",
            "    await db.commit()",
            f'    return {{"id": {d.e}.id, "notes": {d.e}.notes}}')


JOBS_HEADER = """\
import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from app.db.session import SessionLocal
from app.tasks.celery import celery_app, chunked, publish
"""


def j_sweep(s: Spec, name: str) -> List[str]:
    d = s.d
    return [
        f"async def {name}(max_age_days: int = 30) -> int:",
        '    """Archive drafts nobody touched for a while."""',
        "    cutoff = datetime.now(timezone.utc) - timedelta(days=max_age_days)",
        "    async with SessionLocal() as session:",
        "        stmt = (",
        f"            select({d.E})",
        f"            .where({d.E}.status == {d.Status}.DRAFT, {d.E}.updated_at < cutoff)",
        "            .limit(500)",
        "        )",
        f"        {d.es} = (await session.execute(stmt)).scalars().all()",
        f"        for {d.e} in {d.es}:",
        f"            {d.e}.status = {d.Status}.ARCHIVED",
        "        await session.commit()",
        f'    logger.info("{name}: archived %d {d.es}", len({d.es}))',
        f"    return len({d.es})",
    ]


def j_service(s: Spec, name: str) -> List[str]:
    d = s.d
    return [
        f"async def {name}({d.e}_ids: Sequence[int]) -> None:",
        "    async with SessionLocal() as session:",
        f"        service = {d.S}(session)",
        f"        for {d.e}_id in {d.e}_ids:",
        f'            await service.record_{d.e}_activity({d.e}_id, "nightly check")',
    ]


def j_refresh(s: Spec, name: str) -> List[str]:
    d = s.d
    return [
        f"async def {name}({d.e}_id: int) -> dict[str, Any] | None:",
        "    async with SessionLocal() as session:",
        f"        {d.e} = await session.get({d.E}, {d.e}_id)",
        f"        if {d.e} is None:",
        "            return None",
        f'        {d.e}.notes = ({d.e}.notes or "") + " (recounted)"',
        "        await session.commit()",
        f"        await session.refresh({d.e})",
        f'        payload = {{"id": {d.e}.id, "updated_at": {d.e}.updated_at.isoformat()}}',
        f'    publish("{d.m}.recounted", payload)',
        "    return payload",
    ]


def j_retry(s: Spec, name: str) -> List[str]:
    d = s.d
    return [
        f"async def {name}({d.e}_id: int, attempts: int = 3) -> bool:",
        "    for attempt in range(1, attempts + 1):",
        "        async with SessionLocal() as session:",
        f"            {d.e} = await session.get({d.E}, {d.e}_id)",
        f"            if {d.e} is None:",
        "                return False",
        f"            {d.e}.priority = 0",
        "            try:",
        "                await session.commit()",
        "                return True",
        "            except OperationalError:",
        "                await session.rollback()",
        f'                logger.warning("{name}: attempt %d failed", attempt)',
        "        await asyncio.sleep(0.5 * attempt)",
        "    return False",
    ]


def j_touched_logged(s: Spec, name: str) -> List[str]:
    """A job commits an UPDATE, then logs ``updated_at``: FG001."""
    d = s.d
    return [
        f"async def {name}({d.e}_id: int) -> None:",
        "    async with SessionLocal() as session:",
        f"        {d.e} = await session.get({d.E}, {d.e}_id)",
        f"        if {d.e} is None:",
        "            return",
        f"        {d.e}.status = {d.Status}.ACTIVE",
        "        await session.commit()",
        f'        logger.info("activated %s at %s", {d.e}.id, {d.e}.updated_at)' + MARK + "FG001",
    ]


SAFE_JOBS = (j_sweep, j_service, j_refresh, j_retry)


def jobs_module(rng: random.Random, s: Spec, target: int) -> Source:
    d = s.d
    src = Source()
    src.add(f'"""Background jobs of {d.es}: each opens its own session and commits."""', "")
    src.add(JOBS_HEADER.rstrip("\n"))
    src.add(f"from app.models.{d.m} import {d.E}, {d.Status}",
            f"from app.services.{d.m} import {d.S}")
    src.blank()
    src.add("logger = logging.getLogger(__name__)")
    jobs: List[Callable[[Spec, str], List[str]]] = rng.sample(SAFE_JOBS, 1 + (rng.random() < 0.3))
    if d.index % 4 == 3:
        jobs.append(j_touched_logged)
    rng.shuffle(jobs)
    w = Words(rng)
    for job in jobs:
        src.blank(2)
        src.add(*job(s, w.ident((job.__name__[2:],), (d.es,), ("job", "pass", "run"))))
    while len(src) < target:
        src.blank(2)
        src.add(*rng.choice((f_task, f_stats, f_group, f_task))(w, d))
    return src


def repository_module(rng: random.Random, s: Spec, target: int, save: bool) -> str:
    """Getters that return objects, and (``save``) a save that flushes and refreshes."""
    d = s.d
    src = Source()
    src.add(f'"""Queries of {d.es}: the objects the services change."""', "")
    src.add("from collections.abc import Sequence",
            "from datetime import datetime",
            "",
            "from sqlalchemy import and_, func, or_, select",
            "from sqlalchemy.ext.asyncio import AsyncSession",
            "from sqlalchemy.orm import selectinload",
            "",
            f"from app.models.{d.m} import {d.C}, {d.E}, {d.Status}")
    src.blank(2)
    src.add(f"class {d.R}:", "    def __init__(self, session: AsyncSession) -> None:",
            "        self.session = session",
            "",
            f"    async def get_{d.e}(self, {d.e}_id: int) -> {d.E} | None:",
            f"        return await self.session.get({d.E}, {d.e}_id)",
            "",
            f"    async def get_{d.e}_by_name(self, name: str) -> {d.E} | None:",
            f"        stmt = select({d.E}).where(func.lower({d.E}.name) == name.lower())",
            "        return (await self.session.execute(stmt)).scalar_one_or_none()",
            "",
            f"    async def get_{d.e}_with_{d.rel}(self, {d.e}_id: int) -> {d.E} | None:",
            "        stmt = (",
            f"            select({d.E})",
            f"            .options(selectinload({d.E}.{d.rel}))",
            f"            .where({d.E}.id == {d.e}_id)",
            "        )",
            "        return (await self.session.execute(stmt)).scalar_one_or_none()")
    if save:
        src.add("",
                f"    async def save(self, {d.e}: {d.E}) -> {d.E}:",
                f"        self.session.add({d.e})",
                "        await self.session.flush()",
                f"        await self.session.refresh({d.e})",
                f"        return {d.e}")
    synthetic.add_read_queries(src, rng, d, target, ("recent", "stale", "open", "busy", "top",
                                                      "orphaned", "pending", "flagged"))
    return src.text()


def model_module(s: Spec) -> str:
    d = s.d
    src = Source()
    src.add(f'"""{d.E}, its {d.rel}' + (" and its history" if s.history else "") + '."""', "")
    src.add(
        "import enum",
        "from datetime import date, datetime",
        "from decimal import Decimal",
        "",
        "from sqlalchemy import (",
        "    JSON,",
        "    Boolean,",
        "    Date,",
        "    DateTime,",
        "    Enum,",
        "    Float,",
        "    ForeignKey,",
        "    Integer,",
        "    Numeric,",
        "    String,",
        "    Text,",
        "    text,",
        ")",
        "from sqlalchemy.orm import Mapped, mapped_column, relationship",
        "",
        "from app.db.base import Base",
        "from app.db.mixins import AuditMixin, IdMixin, SoftDeleteMixin, TimestampMixin",
    )
    src.blank(2)
    src.add(f"class {d.Status}(str, enum.Enum):",
            '    DRAFT = "draft"', '    ACTIVE = "active"', '    ARCHIVED = "archived"')
    src.blank(2)
    src.add(
        f"class {d.E}(IdMixin, TimestampMixin, SoftDeleteMixin, AuditMixin, Base):",
        f'    """A {d.e.replace("_", " ")}: the aggregate {d.S} changes."""',
        "",
        f'    __tablename__ = "{d.table}"',
        "",
        "    name: Mapped[str] = mapped_column(String(200), index=True)",
        f"    status: Mapped[{d.Status}] = mapped_column(Enum({d.Status}),"
        f" default={d.Status}.DRAFT)",
        "    notes: Mapped[str | None] = mapped_column(Text)",
        '    priority: Mapped[int] = mapped_column(Integer, server_default=text("0"))',
    )
    for name, annotation, args, _, _ in d.extras + s.columns:
        src.add(f"    {name}: Mapped[{annotation}] = mapped_column({args})")
    for o in s.partners:
        src.add(f"    {o.m}_id: Mapped[int | None] = mapped_column(",
                f'        ForeignKey("{o.table}.id", ondelete="SET NULL"), index=True',
                "    )")
    src.add(
        "",
        f'    {d.rel}: Mapped[list["{d.C}"]] = relationship(',
        f'        back_populates="{d.m}", cascade="all, delete-orphan", order_by="{d.C}.id"',
        "    )",
    )
    for o in s.partners:
        src.add(f'    {o.m}: Mapped["{o.E} | None"] = relationship(foreign_keys=[{o.m}_id])')
    if s.history:
        src.add(f'    history: Mapped[list["{s.H}"]] = relationship(lazy="raise",'
                ' viewonly=True)')
    src.add(
        "",
        "    @property",
        "    def display_name(self) -> str:",
        '        return f"{self.name} ({self.status.value})"',
        "",
        "    @property",
        "    def is_open(self) -> bool:",
        f"        return self.status is not {d.Status}.ARCHIVED and self.deleted_at is None",
        "",
        f"    def can_become(self, target: {d.Status}) -> bool:",
        "        allowed = {",
        f"            {d.Status}.DRAFT: {{{d.Status}.ACTIVE, {d.Status}.ARCHIVED}},",
        f"            {d.Status}.ACTIVE: {{{d.Status}.ARCHIVED, {d.Status}.DRAFT}},",
        f"            {d.Status}.ARCHIVED: set(),",
        "        }",
        "        return target in allowed[self.status]",
        "",
        "    def to_dict(self) -> dict[str, object]:",
        "        return {",
        '            "id": self.id,',
        '            "name": self.name,',
        '            "status": self.status.value,',
        '            "notes": self.notes,',
        *[f'            "{name}": self.{name},' for name, *_ in d.extras + s.columns],
        "        }",
        "",
        "    def __repr__(self) -> str:",
        f'        return f"<{d.E} {{self.id}} {{self.name!r}}>"',
    )
    src.blank(2)
    src.add(
        f"class {d.C}(IdMixin, TimestampMixin, Base):",
        f'    __tablename__ = "{d.ctable}"',
        "",
        f'    {d.fk}: Mapped[int] = mapped_column(ForeignKey("{d.table}.id", ondelete="CASCADE"))',
        "    label: Mapped[str] = mapped_column(String(120))",
        "    quantity: Mapped[int] = mapped_column(Integer, default=1)",
        '    seq: Mapped[int] = mapped_column(Integer, server_default=text("0"))',
        "",
        f'    {d.m}: Mapped[{d.E}] = relationship(back_populates="{d.rel}")',
    )
    if s.history:
        src.blank(2)
        src.add(
            f"class {s.H}(IdMixin, TimestampMixin, Base):",
            f'    __tablename__ = "{d.m}_history"',
            "",
            f'    {d.fk}: Mapped[int] = mapped_column(ForeignKey("{d.table}.id"), index=True)',
            "    kind: Mapped[str] = mapped_column(String(40))",
            "    payload: Mapped[dict] = mapped_column(JSON, default=dict)",
        )
    return src.text()


def schema_module(s: Spec) -> str:
    d = s.d
    src = Source()
    src.add(f'"""Request and response bodies of {d.prefix}."""', "")
    src.add(
        "from datetime import date, datetime",
        "from decimal import Decimal",
        "",
        "from pydantic import BaseModel, ConfigDict, Field",
        "",
        f"from app.models.{d.m} import {d.Status}",
    )
    src.blank(2)
    src.add(f"class {d.C}Out(BaseModel):",
            "    model_config = ConfigDict(from_attributes=True)", "",
            "    id: int", "    label: str", "    quantity: int")
    src.blank(2)
    src.add(f"class {d.C}Detail({d.C}Out):", "    created_at: datetime")
    src.blank(2)
    src.add(f"class {d.E}Base(BaseModel):",
            "    name: str = Field(min_length=1, max_length=200)",
            "    notes: str | None = None")
    for name, _, _, annotation, sample in d.extras + s.columns:
        src.add(f"    {name}: {annotation} = {sample}")
    src.blank(2)
    src.add(f"class {d.E}Create({d.E}Base):", "    pass")
    src.blank(2)
    src.add(f"class {d.E}Update(BaseModel):",
            "    name: str | None = Field(default=None, min_length=1, max_length=200)",
            "    notes: str | None = None")
    for name, _, _, annotation, _ in (d.extras + s.columns)[:4]:
        optional = annotation if "None" in annotation else f"{annotation} | None"
        src.add(f"    {name}: {optional} = None")
    src.blank(2)
    src.add(f"class {d.E}Out({d.E}Base):",
            "    model_config = ConfigDict(from_attributes=True)", "",
            "    id: int", f"    status: {d.Status}", "    created_at: datetime",
            "    updated_at: datetime")
    src.blank(2)
    src.add(f"class {d.E}Brief(BaseModel):",
            "    model_config = ConfigDict(from_attributes=True)", "",
            "    id: int", "    name: str", f"    status: {d.Status}")
    src.blank(2)
    src.add(f"class {d.E}Page(BaseModel):",
            f"    items: list[{d.E}Out]", "    total: int", "    offset: int = 0",
            "    limit: int = 50")
    src.blank(2)
    src.add(f"class {d.E}Filter(BaseModel):",
            "    name: str | None = None",
            f"    status: {d.Status} | None = None",
            "    created_after: datetime | None = None",
            "    created_before: datetime | None = None")
    for name, _, _, annotation, _ in d.extras + s.columns:
        optional = annotation if "None" in annotation else f"{annotation} | None"
        src.add(f"    {name}: {optional} = None")
    src.blank(2)
    src.add(f"class {d.E}ExportRow(BaseModel):",
            "    id: int", "    name: str", "    status: str")
    for name, _, _, annotation, _ in d.extras + s.columns:
        src.add(f"    {name}: {annotation}")
    src.add("    created_at: datetime", "    updated_at: datetime")
    src.blank(2)
    src.add(f"class {d.E}Stats(BaseModel):",
            "    by_status: dict[str, int]",
            "    recent: list[dict[str, object]]",
            f"    {d.rel}: int",
            "    days: int = 30")
    return src.text()


# --------------------------------------------------------------------------
# The project
# --------------------------------------------------------------------------

MIXINS = """\
from datetime import datetime

from sqlalchemy import DateTime, Integer, func
from sqlalchemy.orm import Mapped, mapped_column


class IdMixin:
    id: Mapped[int] = mapped_column(primary_key=True)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class SoftDeleteMixin:
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class AuditMixin:
    created_by_id: Mapped[int | None] = mapped_column(Integer)
    updated_by_id: Mapped[int | None] = mapped_column(Integer)
"""

SHARED = {**synthetic.SHARED, "app/db/mixins.py": MIXINS, "app/jobs/__init__.py": ""}
PACKAGES = synthetic.PACKAGES

#: A domain's files beyond the five core ones: (kind, probability, (min lines, max lines)),
#: in the order they are dropped when the project is full. ``workflow`` and ``jobs`` are
#: decided by the domain's :class:`Spec`.
EXTRAS = (
    ("migration", 1.0, (0, 0)),
    ("tests_api", 1.0, (350, 1500)),
    ("workflow", None, (300, 800)),
    ("jobs", None, (120, 420)),
    ("utils", 0.55, (300, 1300)),
    ("reports", 0.35, (500, 1600)),
    ("integrations", 0.3, (250, 1000)),
    ("tests_unit", 0.3, (120, 500)),
)


def _lines(kind: str, rng: random.Random) -> int:
    low, high = next(r for k, _, r in EXTRAS if k == kind)
    return int(low + (high - low) * rng.random() ** 1.3)


def plan_files(files: int, seed: int, reveal: bool = False
               ) -> Iterator[Tuple[str, Optional[Spec], str, random.Random]]:
    """(path, spec, kind, rng) of every file of a project of ``files`` files, in order."""
    shared = list(SHARED) + [f"{p}/__init__.py" for p in PACKAGES] + ["app/main.py"]
    for path in shared:
        yield path, None, "shared", random.Random(f"{seed}:{path}")
    count = sum(1 for path in shared if path.endswith(".py"))
    index = 0
    while count < files:
        s = make_spec(index, seed, reveal)
        d = s.d
        rng = random.Random(f"{seed}:service-files:{index}")
        core = ["model", "schema", "service", "router", "repository"]
        optional = []
        for kind, p, _ in EXTRAS:
            wanted = (s.workflow if kind == "workflow" else s.jobs if kind == "jobs"
                      else rng.random() < p)
            if wanted:
                optional.append(kind)
        room = files - count
        if room <= len(core):
            for i in range(room):
                rng = random.Random(f"{seed}:service-misc:{index}:{i}")
                yield f"app/utils/misc_{index}_{i}.py", s, "misc", rng
            return
        kinds = core + optional[: room - len(core)]
        if "workflow" not in kinds:
            s.workflow = False
        if "jobs" not in kinds:
            s.jobs = False
        for kind in kinds:
            yield _path(d, kind, index), s, kind, random.Random(f"{seed}:service:{kind}:{index}")
        count += len(kinds)
        index += 1


def _path(d: Domain, kind: str, index: int) -> str:
    return {
        "model": f"app/models/{d.m}.py",
        "schema": f"app/schemas/{d.m}.py",
        "service": f"app/services/{d.m}.py",
        "workflow": f"app/services/{d.m}_workflow.py",
        "router": f"app/routers/{d.m}.py",
        "repository": f"app/repositories/{d.m}.py",
        "jobs": f"app/jobs/{d.m}.py",
        "tests_api": f"tests/test_{d.m}_api.py",
        "tests_unit": f"tests/test_{d.m}_helpers.py",
        "utils": f"app/utils/{d.m}.py",
        "reports": f"app/reports/{d.m}_report.py",
        "integrations": f"app/integrations/{d.m}_sync.py",
        "migration": f"migrations/versions/{index:04d}_create_{d.table}.py",
    }[kind]


def generate(root: Path, files: int, seed: int = 1, reveal: bool = False) -> Project:
    """Write a service-heavy project of exactly ``files`` Python files under ``root``."""
    root = Path(root)
    project = Project(root=root, profile="service")
    written: Dict[str, str] = {}
    routers: List[Domain] = []
    plan = list(plan_files(files, seed, reveal))
    # Whether each domain's optional files exist is known before any is written: the
    # service's routes go to its router, the workflow's too.
    services: Dict[int, Plan] = {}
    for path, s, kind, rng in plan:
        if kind == "shared":
            if path == "app/main.py":
                continue
            written[path] = SHARED.get(path, "")
            continue
        d = s.d
        marks: List[Tuple[int, str]] = []
        latent: List[Tuple[int, str]] = []
        if kind == "model":
            text = model_module(s)
        elif kind == "schema":
            text = schema_module(s)
        elif kind == "service":
            target = int(300 + 700 * rng.random())
            planned = service_module(rng, s, target)
            text, marks, latent = planned.text, planned.marks, planned.latent
            services[d.index] = planned
            if project.first_service is None:
                project.first_service = path
        elif kind == "workflow":
            planned = workflow_module(rng, s, _lines(kind, rng))
            text, marks, latent = planned.text, planned.marks, planned.latent
            services[d.index].routes.extend(planned.routes)
        elif kind == "router":
            # Written after the workflow (which comes later in the plan): see below.
            continue
        elif kind == "repository":
            save = "self.repo.save(" in services[d.index].text or rng.random() < 0.3
            text = repository_module(rng, s, rng.randint(120, 380), save)
        elif kind == "jobs":
            src = jobs_module(rng, s, _lines(kind, rng))
            text, marks = src.text(), src.marks
        elif kind == "migration":
            revision = synthetic._revision(seed, d.index)
            down = synthetic._revision(seed, d.index - 1) if d.index else None
            text = synthetic.migration_module(rng, d, revision, down)
        elif kind in ("tests_api", "tests_unit"):
            text = test_module(rng, d, _lines(kind, rng), f"API tests of {d.prefix}.")
        elif kind == "misc":
            text = filler_module(rng, d, rng.randint(200, 600), f"Small helpers around {d.es}.")
        else:
            docstrings = {
                "utils": f"Helpers around {d.es}.",
                "reports": f"Periodic reports on {d.es}: grouping, totals, rendering.",
                "integrations": f"Keeps {d.es} in step with external systems.",
            }
            kinds = {"integrations": (f_http, f_http, f_parse, f_class, f_dataclass),
                     "reports": (f_group, f_format, f_csv, f_stats, f_class, f_dataclass)}
            text = filler_module(rng, d, _lines(kind, rng), docstrings[kind],
                                 kinds.get(kind, synthetic.FILLERS))
        written[path] = text
        project.expected.extend(Expected(path, line, code) for line, code in marks)
        project.latent.extend(Expected(path, line, code) for line, code in latent)
    for path, s, kind, rng in plan:
        if kind != "router":
            continue
        d = s.d
        src = router_module(rng, s, services.pop(d.index).routes, planted_child=d.index % 4 == 2)
        written[path] = src.text()
        project.expected.extend(Expected(path, line, code) for line, code in src.marks)
        routers.append(d)
    written["app/main.py"] = synthetic.main_module(routers)
    project.domains = len(routers)
    # The order of the files as the plan gives it (the dict's order is what was written).
    ordered = {path: written[path] for path, _, _, _ in plan if path in written}
    synthetic.write_project(project, ordered)
    return project


if __name__ == "__main__":
    import sys
    sys.exit(synthetic.main(["--profile", "service", *sys.argv[1:]]))

#!/usr/bin/env python3
"""A synthetic FastAPI + SQLAlchemy 2.0 async project, deterministic, of about N files.

The project has the shapes of real application code: a ``models`` package on a
``DeclarativeBase`` with id/timestamp mixins (``server_default=func.now()``,
``onupdate=func.now()``), enums and relationships; pydantic ``schemas``; ``services``
classes with many methods; ``routers`` with ``APIRouter`` and ``response_model``; and a
majority of files that never flush: repositories, utilities, tasks, integrations, reports,
validators, migrations, scripts and tests. The backend is MySQL (``aiomysql``) and the
session factory says ``expire_on_commit=False``, as in many FastAPI projects.

About 2-7 % of the files flush or commit. Some service methods are real bugs (a server
default read after an INSERT flush, an ``onupdate`` column after an UPDATE, a collection
never loaded, a read after ``rollback()``, an object returned to a ``response_model`` that
reads what the flush left unloaded); others are the safe variants (a refresh after the
flush, only loaded attributes read, a commit that expires nothing). Every planted bug is
recorded with the path, line and rule code flushguard must report: :attr:`Project.expected`.

The project is made of *domains* (one model, its schemas, service, router, tests and the
files around them), each drawn from its own seeded random generator: a larger project has
the smaller one's domains plus new ones, so the findings grow with the file count.

    python benchmarks/synthetic.py OUT --files 1000      # write a project, print its numbers

``--profile service`` writes the service-heavy profile instead (service_heavy.py): a backend
where nearly every service module flushes or commits.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

#: Rule-code markers: a template line ``"text" + MARK + "FG001"`` expects that finding there.
MARK = "\x00"
#: A real bug in a shape today's analysis does not follow (an object that came back from a
#: getter): recorded, with the finding a fuller analysis must report there, but not expected.
LATENT = "\x01"

NOUNS = (
    "Invoice", "Shipment", "Customer", "Product", "Warehouse", "Ticket", "Project", "Task",
    "Campaign", "Subscription", "Payment", "Refund", "Coupon", "Review", "Article", "Comment",
    "Vendor", "Contract", "Asset", "Device", "Sensor", "Alert", "Report", "Budget", "Expense",
    "Employee", "Team", "Meeting", "Room", "Booking", "Course", "Lesson", "Enrollment",
    "Patient", "Appointment", "Prescription", "Vehicle", "Route", "Driver", "Parcel", "Policy",
    "Claim", "Quote", "Lead", "Deal", "Account", "Ledger", "Transfer", "Wallet", "Badge",
    "Survey", "Playlist", "Track", "Album", "Recipe", "Menu", "Order", "Cart", "Station",
    "Venue", "Listing", "Auction", "Bid", "Grant", "Donation", "Volunteer", "Shift",
    "Timesheet", "Candidate", "Interview", "Position", "Supplier", "Pallet", "Container",
)
QUALIFIERS = (
    "", "Partner", "Internal", "Legacy", "Regional", "Archived", "Shared", "Global", "Pending",
    "Recurring", "External", "Scheduled", "Draft", "Managed", "Billing", "Support", "Field",
    "Remote", "Premium", "Trial", "Batch", "Audit", "Export", "Import", "Sandbox", "Vendor",
    "Mobile", "Retail", "Wholesale", "Seasonal",
)
CHILD_SUFFIXES = ("Line", "Item", "Memo", "Entry", "Event", "Attachment", "Step", "Tag")
VERBS = ("build", "collect", "compute", "render", "merge", "normalize", "parse", "resolve",
         "summarize", "split", "group", "format", "validate", "extract", "score", "rank",
         "filter", "reconcile", "estimate", "prepare", "apply", "convert", "load", "emit")
THINGS = ("rows", "totals", "entries", "labels", "payload", "window", "batch", "records",
          "headers", "amounts", "buckets", "metrics", "tokens", "ranges", "segments", "fields",
          "limits", "periods", "weights", "offsets", "codes", "events", "slots", "rules")
FIELDS = ("name", "status", "amount", "created", "owner", "region", "kind", "code", "priority",
          "score", "label", "currency", "source", "channel", "country", "tier", "category")
VENDORS = ("stripe", "hubspot", "zendesk", "slack", "twilio", "sendgrid", "segment", "shopify",
           "xero", "quickbooks", "salesforce", "intercom", "mailchimp", "github", "jira")

#: Optional columns of a domain's main model: (name, annotation, mapped_column arguments,
#: a schema annotation, a sample value as source).
EXTRA_COLUMNS = (
    ("amount", "Decimal", 'Numeric(12, 2), default=Decimal("0")', "Decimal", 'Decimal("12.50")'),
    ("reference", "str", "String(64), index=True", "str", '"REF-001"'),
    ("is_active", "bool", "Boolean, default=True", "bool", "True"),
    ("due_on", "date | None", "Date", "date | None", "None"),
    ("external_id", "str | None", "String(64), unique=True", "str | None", "None"),
    ("score", "float", "Float, default=0.0", "float", "0.5"),
    ("currency", "str", 'String(3), default="EUR"', "str", '"EUR"'),
    ("email", "str | None", "String(255)", "str | None", '"ops@example.com"'),
    ("position", "int", "Integer, default=0", "int", "3"),
)


def plural(word: str) -> str:
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    return word + "s"


def snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i:
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


@dataclass(frozen=True)
class Expected:
    """A finding flushguard must report."""

    path: str
    line: int
    code: str


@dataclass
class Domain:
    index: int
    E: str                      # model class: PartnerInvoice
    m: str                      # module and variable: partner_invoice
    C: str                      # child model class: PartnerInvoiceLine
    c: str                      # child variable: line
    rel: str                    # E's collection: lines
    extras: Tuple[tuple, ...]   # EXTRA_COLUMNS chosen

    @property
    def e(self) -> str:
        return self.m

    @property
    def es(self) -> str:
        return plural(self.m)

    @property
    def table(self) -> str:
        return plural(self.m)

    @property
    def ctable(self) -> str:
        return f"{self.m}_{plural(snake(self.C[len(self.E):]))}"

    @property
    def fk(self) -> str:
        return f"{self.m}_id"

    @property
    def S(self) -> str:
        return f"{self.E}Service"

    @property
    def R(self) -> str:
        return f"{self.E}Repository"

    @property
    def Status(self) -> str:
        return f"{self.E}Status"

    @property
    def prefix(self) -> str:
        return "/" + plural(self.m).replace("_", "-")


def make_domain(index: int, seed: int) -> Domain:
    rng = random.Random(f"{seed}:domain:{index}")
    noun = NOUNS[index % len(NOUNS)]
    cycle = index // len(NOUNS)
    qualifier = QUALIFIERS[cycle % len(QUALIFIERS)]
    suffix = str(cycle // len(QUALIFIERS) + 1) if cycle >= len(QUALIFIERS) else ""
    E = f"{qualifier}{noun}{suffix}"
    child = rng.choice(CHILD_SUFFIXES)
    extras = tuple(rng.sample(EXTRA_COLUMNS, rng.randint(2, 5)))
    return Domain(index=index, E=E, m=snake(E), C=E + child, c=snake(child),
                  rel=plural(snake(child)), extras=extras)


# --------------------------------------------------------------------------
# Source building
# --------------------------------------------------------------------------


class Source:
    """Lines of one file; a line may carry ``MARK`` (or ``LATENT``) + rule codes
    (comma-separated)."""

    def __init__(self) -> None:
        self.lines: List[str] = []
        self.marks: List[Tuple[int, str]] = []
        self.latent: List[Tuple[int, str]] = []

    def add(self, *lines: str) -> None:
        for text in lines:
            for piece in text.split("\n"):
                for marker, marks in ((MARK, self.marks), (LATENT, self.latent)):
                    if marker in piece:
                        piece, _, codes = piece.partition(marker)
                        for code in codes.split(","):
                            marks.append((len(self.lines) + 1, code))
                self.lines.append(piece)

    def blank(self, count: int = 1) -> None:
        self.lines.extend([""] * count)

    def __len__(self) -> int:
        return len(self.lines)

    def text(self) -> str:
        while self.lines and self.lines[-1] == "":
            self.lines.pop()
        return "\n".join(self.lines) + "\n" if self.lines else ""


@dataclass
class Route:
    verb: str
    path: str
    handler: str
    method: str
    response_model: Optional[str]
    params: Tuple[str, ...]     # the handler's own parameters (path, body, query)
    args: str                   # the service call's arguments
    status: Optional[str] = None
    returns_none_check: bool = False


@dataclass
class Method:
    name: str
    lines: List[str]
    route: Optional[Route] = None


# --------------------------------------------------------------------------
# Service methods: plain reads, safe flushes, planted bugs
# --------------------------------------------------------------------------
# Each takes the domain and a variant number (for unique names) and returns a Method whose
# lines are indented for a class body. MARK lines are where flushguard must report.


def _given(d: Domain, source: str = "data") -> str:
    """Keyword arguments that give the main model its values from a schema."""
    args = [f"name={source}.name", f"notes={source}.notes"]
    args += [f"{col[0]}={source}.{col[0]}" for col in d.extras[:2]]
    return ", ".join(args)


def m_get(d: Domain, v: str) -> Method:
    return Method(f"get_{d.e}{v}", [
        f"async def get_{d.e}{v}(self, {d.e}_id: int) -> {d.E} | None:",
        f"    return await self.db.get({d.E}, {d.e}_id)",
    ], Route("get", f"/{{{d.e}_id}}" + v.replace("_", "/"), f"read_{d.e}{v}", f"get_{d.e}{v}",
             f"{d.E}Out", (f"{d.e}_id: int",), f"{d.e}_id", returns_none_check=True))


def m_list(d: Domain, v: str) -> Method:
    return Method(f"list_{d.es}{v}", [
        f"async def list_{d.es}{v}(",
        f"    self, *, offset: int = 0, limit: int = 50, status: {d.Status} | None = None",
        f") -> list[{d.E}]:",
        f"    stmt = select({d.E}).order_by({d.E}.created_at.desc(), {d.E}.id.desc())",
        "    if status is not None:",
        f"        stmt = stmt.where({d.E}.status == status)",
        "    stmt = stmt.offset(offset).limit(min(limit, self.MAX_PAGE))",
        "    result = await self.db.execute(stmt)",
        "    return list(result.scalars().all())",
    ], Route("get", "" if not v else "/" + v.strip("_"), f"list_{d.es}{v}", f"list_{d.es}{v}",
             f"list[{d.E}Out]", ("offset: int = 0", "limit: int = Query(50, le=200)"),
             "offset=offset, limit=limit"))


def m_search(d: Domain, v: str) -> Method:
    return Method(f"search_{d.es}{v}", [
        f"async def search_{d.es}{v}(self, query: str, limit: int = 20) -> list[{d.E}]:",
        '    pattern = f"%{query.strip()}%"',
        "    stmt = (",
        f"        select({d.E})",
        f"        .where({d.E}.name.ilike(pattern) | {d.E}.notes.ilike(pattern))",
        f"        .order_by({d.E}.name)",
        "        .limit(limit)",
        "    )",
        "    rows = (await self.db.execute(stmt)).scalars().all()",
        f'    logger.debug("search %r matched %d {d.es}", query, len(rows))',
        "    return list(rows)",
    ])


def m_count(d: Domain, v: str) -> Method:
    return Method(f"count_{d.es}{v}", [
        f"async def count_{d.es}{v}(self, status: {d.Status} | None = None) -> int:",
        f"    stmt = select(func.count()).select_from({d.E})",
        "    if status is not None:",
        f"        stmt = stmt.where({d.E}.status == status)",
        "    return (await self.db.execute(stmt)).scalar_one()",
    ])


def m_detail(d: Domain, v: str) -> Method:
    return Method(f"get_{d.e}_detail{v}", [
        f"async def get_{d.e}_detail{v}(self, {d.e}_id: int) -> dict[str, Any] | None:",
        "    stmt = (",
        f"        select({d.E})",
        f"        .options(selectinload({d.E}.{d.rel}))",
        f"        .where({d.E}.id == {d.e}_id)",
        "    )",
        f"    {d.e} = (await self.db.execute(stmt)).scalar_one_or_none()",
        f"    if {d.e} is None:",
        "        return None",
        "    return {",
        f'        "id": {d.e}.id,',
        f'        "name": {d.e}.name,',
        (f'        "{d.rel}": [{{"id": {d.c}.id, "label": {d.c}.label}}'
         f' for {d.c} in {d.e}.{d.rel}],'),
        f'        "updated_at": {d.e}.updated_at.isoformat(),',
        "    }",
    ])


def m_stats(d: Domain, v: str) -> Method:
    return Method(f"status_breakdown{v}", [
        f"async def status_breakdown{v}(self) -> dict[str, int]:",
        "    stmt = (",
        f"        select({d.E}.status, func.count({d.E}.id))",
        f"        .group_by({d.E}.status)",
        f"        .order_by({d.E}.status)",
        "    )",
        "    rows = (await self.db.execute(stmt)).all()",
        "    breakdown = {status.value: count for status, count in rows}",
        f"    for status in {d.Status}:",
        "        breakdown.setdefault(status.value, 0)",
        "    return breakdown",
    ])


def m_exists(d: Domain, v: str) -> Method:
    return Method(f"name_taken{v}", [
        f"async def name_taken{v}(self, name: str, *, exclude_id: int | None = None) -> bool:",
        f"    stmt = select({d.E}.id).where(func.lower({d.E}.name) == name.lower())",
        "    if exclude_id is not None:",
        f"        stmt = stmt.where({d.E}.id != exclude_id)",
        "    return (await self.db.execute(stmt.limit(1))).first() is not None",
    ])


def m_normalize(d: Domain, v: str) -> Method:
    return Method(f"_normalize_name{v}", [
        "@staticmethod",
        f"def _normalize_name{v}(raw: str) -> str:",
        '    name = " ".join(raw.split())',
        "    if not name:",
        f'        raise ValidationError("{d.E} name must not be empty")',
        "    if len(name) > 200:",
        f'        raise ValidationError("{d.E} name is too long")',
        "    return name[0].upper() + name[1:]",
    ])


def m_summary(d: Domain, v: str) -> Method:
    extra = [f'        "{col[0]}": {d.e}.{col[0]},' for col in d.extras]
    return Method(f"_summary{v}", [
        f"def _summary{v}(self, {d.e}: {d.E}) -> dict[str, Any]:",
        f'    """A plain dict of a loaded {d.E}, for events and audit logs."""',
        "    return {",
        f'        "id": {d.e}.id,',
        f'        "name": {d.e}.name,',
        f'        "status": {d.e}.status.value,',
        *extra,
        "    }",
    ])


def m_filters(d: Domain, v: str) -> Method:
    return Method(f"_apply_filters{v}", [
        f"def _apply_filters{v}(self, stmt: Select, filters: dict[str, Any]) -> Select:",
        "    for key, value in filters.items():",
        "        if value is None:",
        "            continue",
        '        if key == "status":',
        f"            stmt = stmt.where({d.E}.status == {d.Status}(value))",
        '        elif key == "name":',
        f'            stmt = stmt.where({d.E}.name.ilike(f"%{{value}}%"))',
        '        elif key == "created_after":',
        f"            stmt = stmt.where({d.E}.created_at >= value)",
        '        elif key == "created_before":',
        f"            stmt = stmt.where({d.E}.created_at < value)",
        "        else:",
        '            raise ValidationError(f"unknown filter {key!r}")',
        "    return stmt",
    ])


def m_transition(d: Domain, v: str) -> Method:
    return Method(f"_check_transition{v}", [
        "@staticmethod",
        f"def _check_transition{v}(current: {d.Status}, target: {d.Status}) -> None:",
        "    allowed = {",
        f"        {d.Status}.DRAFT: {{{d.Status}.ACTIVE, {d.Status}.ARCHIVED}},",
        f"        {d.Status}.ACTIVE: {{{d.Status}.ARCHIVED}},",
        f"        {d.Status}.ARCHIVED: set(),",
        "    }",
        "    if target not in allowed[current]:",
        '        raise ConflictError(f"cannot move from {current.value} to {target.value}")',
    ])


# Safe flushes and commits ---------------------------------------------------------------


def s_create_refresh(d: Domain, v: str) -> Method:
    return Method(f"create_{d.e}{v}", [
        f"async def create_{d.e}{v}(self, data: {d.E}Create) -> {d.E}:",
        f"    {d.e} = {d.E}({_given(d)})",
        f"    self.db.add({d.e})",
        "    await self.db.flush()",
        f"    await self.db.refresh({d.e})",
        f'    logger.info("created {d.e} %s", {d.e}.id)',
        f"    return {d.e}",
    ], Route("post", "" if not v else "/" + v.strip("_"), f"create_{d.e}{v}", f"create_{d.e}{v}",
             f"{d.E}Out", (f"data: {d.E}Create",), "data", status="status.HTTP_201_CREATED"))


def s_create_loaded(d: Domain, v: str) -> Method:
    return Method(f"register_{d.e}{v}", [
        f"async def register_{d.e}{v}(self, data: {d.E}Create) -> dict[str, Any]:",
        "    name = self._normalize_name(data.name)",
        "    if await self.name_taken(name):",
        f'        raise ConflictError(f"{d.E} {{name!r}} exists")',
        f"    {d.e} = {d.E}(name=name, notes=data.notes, status={d.Status}.DRAFT)",
        f"    self.db.add({d.e})",
        "    await self.db.flush()",
        f'    logger.info("registered {d.e} %s (%s)", {d.e}.id, {d.e}.name)',
        f'    return {{"id": {d.e}.id, "name": {d.e}.name, "status": {d.e}.status.value}}',
    ])


def s_update_commit(d: Domain, v: str) -> Method:
    return Method(f"rename_{d.e}{v}", [
        f"async def rename_{d.e}{v}(self, {d.e}_id: int, name: str) -> dict[str, Any]:",
        f"    {d.e} = await self.db.get({d.E}, {d.e}_id)",
        f"    if {d.e} is None:",
        f'        raise NotFoundError("{d.e}", {d.e}_id)',
        f"    {d.e}.name = self._normalize_name(name)",
        "    await self.db.commit()",
        f'    return {{"id": {d.e}.id, "name": {d.e}.name, "notes": {d.e}.notes}}',
    ])


def s_create_with_children(d: Domain, v: str) -> Method:
    return Method(f"create_{d.e}_with_{d.rel}{v}", [
        f"async def create_{d.e}_with_{d.rel}{v}(",
        f"    self, data: {d.E}Create, labels: list[str]",
        ") -> dict[str, Any]:",
        f"    {d.e} = {d.E}(",
        "        name=data.name,",
        "        notes=data.notes,",
        f"        {d.rel}=[{d.C}(label=label, quantity=1) for label in labels],",
        "    )",
        f"    self.db.add({d.e})",
        "    await self.db.flush()",
        "    return {",
        f'        "id": {d.e}.id,',
        f'        "{d.rel}": [{d.c}.id for {d.c} in {d.e}.{d.rel}],',
        "    }",
    ])


def s_delete(d: Domain, v: str) -> Method:
    return Method(f"delete_{d.e}{v}", [
        f"async def delete_{d.e}{v}(self, {d.e}_id: int) -> None:",
        f"    {d.e} = await self.db.get({d.E}, {d.e}_id)",
        f"    if {d.e} is None:",
        f'        raise NotFoundError("{d.e}", {d.e}_id)',
        f"    await self.db.delete({d.e})",
        "    await self.db.flush()",
        f'    logger.info("deleted {d.e} %s", {d.e}_id)',
    ])


def s_update_refresh(d: Domain, v: str) -> Method:
    return Method(f"update_{d.e}{v}", [
        f"async def update_{d.e}{v}(self, {d.e}_id: int, data: {d.E}Update) -> {d.E} | None:",
        f"    {d.e} = await self.db.get({d.E}, {d.e}_id)",
        f"    if {d.e} is None:",
        "        return None",
        "    if data.name is not None:",
        f"        {d.e}.name = self._normalize_name(data.name)",
        "    if data.notes is not None:",
        f"        {d.e}.notes = data.notes",
        "    await self.db.flush()",
        f'    await self.db.refresh({d.e}, ["updated_at"])',
        f"    return {d.e}",
    ], Route("patch", f"/{{{d.e}_id}}" + v.replace("_", "/"), f"update_{d.e}{v}",
             f"update_{d.e}{v}", f"{d.E}Out", (f"{d.e}_id: int", f"data: {d.E}Update"),
             f"{d.e}_id, data", returns_none_check=True))


def s_add_child(d: Domain, v: str) -> Method:
    return Method(f"add_{d.c}{v}", [
        (f"async def add_{d.c}{v}(self, {d.e}_id: int, label: str, quantity: int = 1)"
         " -> dict[str, Any]:"),
        f"    {d.c} = {d.C}({d.fk}={d.e}_id, label=label, quantity=quantity)",
        f"    self.db.add({d.c})",
        "    await self.db.flush()",
        f'    return {{"id": {d.c}.id, "label": {d.c}.label, "quantity": {d.c}.quantity}}',
    ])


def s_bulk_ids(d: Domain, v: str) -> Method:
    return Method(f"import_{d.es}{v}", [
        f"async def import_{d.es}{v}(self, rows: list[{d.E}Create]) -> list[int]:",
        (f"    {d.es} = [{d.E}(name=self._normalize_name(row.name), notes=row.notes)"
         " for row in rows]"),
        f"    self.db.add_all({d.es})",
        "    await self.db.flush()",
        f'    logger.info("imported %d {d.es}", len({d.es}))',
        f"    return [{d.e}.id for {d.e} in {d.es}]",
    ])


def s_archive_brief(d: Domain, v: str) -> Method:
    return Method(f"archive_{d.e}{v}", [
        f"async def archive_{d.e}{v}(self, {d.e}_id: int) -> {d.E}:",
        f"    {d.e} = await self.db.get({d.E}, {d.e}_id)",
        f"    if {d.e} is None:",
        f'        raise NotFoundError("{d.e}", {d.e}_id)',
        f"    self._check_transition({d.e}.status, {d.Status}.ARCHIVED)",
        f"    {d.e}.status = {d.Status}.ARCHIVED",
        "    await self.db.commit()",
        f"    return {d.e}",
    ], Route("post", f"/{{{d.e}_id}}/archive" + v.replace("_", "-"), f"archive_{d.e}{v}",
             f"archive_{d.e}{v}", f"{d.E}Brief", (f"{d.e}_id: int",), f"{d.e}_id"))


def s_children_awaitable(d: Domain, v: str) -> Method:
    return Method(f"count_{d.rel}{v}", [
        f"async def count_{d.rel}{v}(self, {d.e}_id: int) -> int:",
        f"    {d.e} = await self.db.get({d.E}, {d.e}_id)",
        f"    if {d.e} is None:",
        f'        raise NotFoundError("{d.e}", {d.e}_id)',
        f"    {d.rel} = await {d.e}.awaitable_attrs.{d.rel}",
        f"    return sum({d.c}.quantity for {d.c} in {d.rel})",
    ])


# Planted bugs ---------------------------------------------------------------------------


def b_create_returned(d: Domain, v: str) -> Method:
    """FG004: the new object goes to a response_model that reads created_at/updated_at."""
    return Method(f"open_{d.e}{v}", [
        f"async def open_{d.e}{v}(self, data: {d.E}Create) -> {d.E}:",
        f"    {d.e} = {d.E}({_given(d)})",
        f"    await self._save({d.e})",
        f'    logger.info("opened {d.e} %s", {d.e}.id)',
        f"    return {d.e}" + MARK + "FG004",
    ], Route("post", "/open" + v.replace("_", "-"), f"open_{d.e}{v}", f"open_{d.e}{v}",
             f"{d.E}Out", (f"data: {d.E}Create",), "data", status="status.HTTP_201_CREATED"))


def b_created_at(d: Domain, v: str) -> Method:
    """FG001: a server default read after the INSERT flush (MySQL has no RETURNING)."""
    return Method(f"draft_{d.e}{v}", [
        f"async def draft_{d.e}{v}(self, data: {d.E}Create) -> dict[str, Any]:",
        f"    {d.e} = {d.E}(name=self._normalize_name(data.name), notes=data.notes)",
        f"    self.db.add({d.e})",
        "    await self.db.flush()",
        "    return {",
        f'        "id": {d.e}.id,',
        f'        "name": {d.e}.name,',
        f'        "created_at": {d.e}.created_at.isoformat(),' + MARK + "FG001",
        "    }",
    ])


def b_updated_at(d: Domain, v: str) -> Method:
    """FG001: an SQL onupdate column read after the UPDATE flush."""
    return Method(f"touch_{d.e}{v}", [
        f"async def touch_{d.e}{v}(self, {d.e}_id: int, notes: str | None) -> dict[str, Any]:",
        f"    {d.e} = await self.db.get({d.E}, {d.e}_id)",
        f"    if {d.e} is None:",
        f'        raise NotFoundError("{d.e}", {d.e}_id)',
        f"    {d.e}.notes = notes",
        "    await self.db.flush()",
        f'    logger.info("touched {d.e} %s", {d.e}.id)',
        f'    return {{"id": {d.e}.id, "updated_at": {d.e}.updated_at}}' + MARK + "FG001",
    ])


def b_collection(d: Domain, v: str) -> Method:
    """FG002: a new object's collection, never assigned, read after the flush."""
    return Method(f"start_{d.e}{v}", [
        f"async def start_{d.e}{v}(self, name: str) -> dict[str, Any]:",
        f"    {d.e} = {d.E}(name=self._normalize_name(name), status={d.Status}.ACTIVE)",
        f"    self.db.add({d.e})",
        "    await self.db.flush()",
        f"    if not {d.e}.{d.rel}:" + MARK + "FG002",
        f'        logger.info("{d.e} %s starts empty", {d.e}.id)',
        f'    return {{"id": {d.e}.id, "name": {d.e}.name}}',
    ])


def b_rollback(d: Domain, v: str) -> Method:
    """FG003: a read after rollback(), which expires everything."""
    return Method(f"retitle_{d.e}{v}", [
        f"async def retitle_{d.e}{v}(self, {d.e}_id: int, name: str) -> str:",
        f"    {d.e} = await self.db.get({d.E}, {d.e}_id)",
        f"    if {d.e} is None:",
        f'        raise NotFoundError("{d.e}", {d.e}_id)',
        f"    {d.e}.name = name",
        "    try:",
        "        await self.db.flush()",
        "    except IntegrityError:",
        "        await self.db.rollback()",
        f'        raise ConflictError(f"name {{{d.e}.name!r}} is taken")' + MARK + "FG003",
        "    return name",
    ])


def b_bulk_created(d: Domain, v: str) -> Method:
    """FG001: server defaults read in a comprehension after an add_all() flush."""
    return Method(f"seed_{d.es}{v}", [
        f"async def seed_{d.es}{v}(self, names: list[str]) -> list[dict[str, Any]]:",
        f"    {d.es} = [{d.E}(name=self._normalize_name(name)) for name in names]",
        f"    self.db.add_all({d.es})",
        "    await self.db.flush()",
        "    return [",
        f'        {{"id": {d.e}.id, "created_at": {d.e}.created_at}}' + MARK + "FG001",
        f"        for {d.e} in {d.es}",
        "    ]",
    ])


def b_updated_returned(d: Domain, v: str) -> Method:
    """FG004: an UPDATE commit leaves updated_at unloaded; the response_model reads it."""
    return Method(f"activate_{d.e}{v}", [
        f"async def activate_{d.e}{v}(self, {d.e}_id: int) -> {d.E}:",
        f"    {d.e} = await self.db.get({d.E}, {d.e}_id)",
        f"    if {d.e} is None:",
        f'        raise NotFoundError("{d.e}", {d.e}_id)',
        f"    self._check_transition({d.e}.status, {d.Status}.ACTIVE)",
        f"    {d.e}.status = {d.Status}.ACTIVE",
        "    await self.db.commit()",
        f"    return {d.e}" + MARK + "FG004",
    ], Route("post", f"/{{{d.e}_id}}/activate" + v.replace("_", "-"), f"activate_{d.e}{v}",
             f"activate_{d.e}{v}", f"{d.E}Out", (f"{d.e}_id: int",), f"{d.e}_id"))


def b_priority_logged(d: Domain, v: str) -> Method:
    """FG001: a server_default=text("0") column logged after the INSERT flush."""
    return Method(f"enqueue_{d.e}{v}", [
        f"async def enqueue_{d.e}{v}(self, name: str) -> int:",
        f"    {d.e} = {d.E}(name=self._normalize_name(name))",
        f"    self.db.add({d.e})",
        "    await self.db.flush()",
        f'    logger.info("queued {d.e} %s at priority %s", {d.e}.id, {d.e}.priority)'
        + MARK + "FG001",
        f"    return {d.e}.id",
    ])


PLAIN = (m_get, m_list, m_search, m_count, m_detail, m_stats, m_exists)
HELPERS = (m_normalize, m_summary, m_filters, m_transition)
SAFE = (s_create_refresh, s_create_loaded, s_update_commit, s_create_with_children, s_delete,
        s_update_refresh, s_add_child, s_bulk_ids, s_archive_brief, s_children_awaitable)
BUGS = (b_create_returned, b_created_at, b_updated_at, b_collection, b_rollback,
        b_bulk_created, b_updated_returned, b_priority_logged)
#: Planted bugs per service, in a cycle over the domains (each bug is one finding).
BUG_COUNTS = (2, 1, 3, 2, 1, 4, 2, 3)
#: Methods other templates call by their plain name: always present once, unsuffixed.
REQUIRED = (m_get, m_list, m_exists, m_normalize, m_transition)


# --------------------------------------------------------------------------
# Filler: code that never flushes (utilities, tasks, reports, tests)
# --------------------------------------------------------------------------


class Words:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set = set()

    def ident(self, *pools: Sequence[str]) -> str:
        for _ in range(50):
            name = "_".join(self.rng.choice(pool) for pool in pools)
            if name not in self.used:
                self.used.add(name)
                return name
        name = f"{name}_{len(self.used)}"
        self.used.add(name)
        return name

    def camel(self, *pools: Sequence[str]) -> str:
        return "".join(part.capitalize() for part in self.ident(*pools).split("_"))


def f_group(w: Words, d: Domain) -> List[str]:
    name = w.ident(("group", "bucket", "index", "partition"), THINGS)
    key = w.rng.choice(FIELDS)
    return [
        (f"def {name}(items: Iterable[dict[str, Any]], key: str = \"{key}\")"
         " -> dict[Any, list[dict[str, Any]]]:"),
        f'    """Group {d.es} rows by ``key``; rows without it go under None."""',
        "    grouped: dict[Any, list[dict[str, Any]]] = defaultdict(list)",
        "    for item in items:",
        "        grouped[item.get(key)].append(item)",
        "    for bucket in grouped.values():",
        (f'        bucket.sort(key=lambda row: (row.get("{w.rng.choice(FIELDS)}") is None,'
         ' row.get("id", 0)))'),
        "    return dict(grouped)",
    ]


def f_format(w: Words, d: Domain) -> List[str]:
    name = w.ident(("format", "render", "describe", "display"), THINGS)
    a, b = w.rng.sample(FIELDS, 2)
    width = w.rng.choice((24, 32, 40, 60))
    return [
        f"def {name}(row: dict[str, Any], *, width: int = {width}) -> str:",
        f'    label = str(row.get("{a}") or "-")',
        "    if len(label) > width:",
        '        label = label[: width - 1] + "…"',
        f'    detail = row.get("{b}")',
        "    if detail is None:",
        '        return f"{label:<{width}}"',
        "    if isinstance(detail, float):",
        '        return f"{label:<{width}} {detail:>10.2f}"',
        '    return f"{label:<{width}} {detail!s:>10}"',
    ]


def f_dataclass(w: Words, d: Domain) -> List[str]:
    name = w.camel((d.m,), ("window", "budget", "quota", "plan", "snapshot", "cursor"))
    f1, f2, f3 = w.rng.sample(FIELDS, 3)
    return [
        "@dataclass(frozen=True)",
        f"class {name}:",
        f"    {f1}: str",
        f"    {f2}: int = 0",
        f"    {f3}: float = 0.0",
        "    tags: tuple[str, ...] = ()",
        "",
        "    @property",
        "    def is_empty(self) -> bool:",
        f"        return not self.{f2} and not self.tags",
        "",
        f"    def merged(self, other: \"{name}\") -> \"{name}\":",
        "        return replace(",
        "            self,",
        f"            {f2}=self.{f2} + other.{f2},",
        f"            {f3}=max(self.{f3}, other.{f3}),",
        "            tags=tuple(sorted(set(self.tags) | set(other.tags))),",
        "        )",
    ]


def f_http(w: Words, d: Domain) -> List[str]:
    vendor = w.rng.choice(VENDORS)
    name = w.ident(("fetch", "push", "sync", "pull"), (vendor,), THINGS)
    return [
        (f"async def {name}(client: httpx.AsyncClient, {d.e}_id: int, *, retries: int = 3)"
         " -> dict[str, Any]:"),
        f'    url = f"{{settings.{vendor.upper()}_URL}}/v2/{d.es}/{{{d.e}_id}}"',
        "    for attempt in range(1, retries + 1):",
        "        try:",
        "            response = await client.get(url, timeout=10.0)",
        "            response.raise_for_status()",
        "            return response.json()",
        "        except httpx.HTTPStatusError as exc:",
        "            if exc.response.status_code < 500 or attempt == retries:",
        "                raise",
        "        except httpx.TransportError:",
        "            if attempt == retries:",
        "                raise",
        f'        logger.warning("{vendor} %s: attempt %d failed", url, attempt)',
        "        await asyncio.sleep(0.2 * 2**attempt)",
        '    raise RuntimeError("unreachable")',
    ]


def f_constants(w: Words, d: Domain) -> List[str]:
    name = w.ident(("DEFAULT", "KNOWN", "ALLOWED", "LEGACY"),
                   ("CODES", "LABELS", "LIMITS", "RATES")).upper()
    lines = [f"{name}: dict[str, {w.rng.choice(('int', 'str', 'float'))}] = {{"]
    for i in range(w.rng.randint(4, 14)):
        key = f"{w.rng.choice(FIELDS)}_{i}"
        lines.append(f'    "{key}": {w.rng.randint(1, 9999)},')
    lines.append("}")
    return [line.replace("dict[str, str]", "dict[str, int]")
            .replace("dict[str, float]", "dict[str, int]") for line in lines]


def f_parse(w: Words, d: Domain) -> List[str]:
    name = w.ident(("parse", "split", "read", "decode"), THINGS)
    sep = w.rng.choice((",", ";", "|", ":"))
    return [
        f"def {name}(text: str) -> list[tuple[str, int]]:",
        "    result: list[tuple[str, int]] = []",
        "    for number, raw in enumerate(text.splitlines(), 1):",
        "        line = raw.strip()",
        '        if not line or line.startswith("#"):',
        "            continue",
        f'        head, _, tail = line.partition("{sep}")',
        "        try:",
        "            result.append((head.strip(), int(tail)))",
        "        except ValueError:",
        '            raise ValueError(f"line {number}: expected NAME' + sep
        + 'COUNT, got {raw!r}") from None',
        "    return result",
    ]


def f_regex(w: Words, d: Domain) -> List[str]:
    name = w.ident(("is_valid", "looks_like", "check"),
                   ("code", "reference", "slug", "handle", "sku"))
    pattern = w.rng.choice((r"^[A-Z]{3}-\d{4,8}$", r"^[a-z0-9]+(?:-[a-z0-9]+)*$", r"^\d{2}/\d{4}$",
                            r"^[A-Z0-9]{8,12}$", r"^[\w.+-]+@[\w-]+\.[\w.]+$"))
    const = name.upper() + "_RE"
    return [
        f'{const} = re.compile(r"{pattern}")',
        "",
        "",
        f"def {name}(value: str | None) -> bool:",
        "    if not value:",
        "        return False",
        f"    return {const}.fullmatch(value.strip()) is not None",
    ]


def f_class(w: Words, d: Domain) -> List[str]:
    name = w.camel((d.m,), ("exporter", "builder", "calculator", "planner", "matcher"))
    f1, f2 = w.rng.sample(FIELDS, 2)
    return [
        f"class {name}:",
        f'    """Turns {d.es} rows into the shape downstream consumers expect."""',
        "",
        "    def __init__(self, *, currency: str = \"EUR\", strict: bool = False) -> None:",
        "        self.currency = currency",
        "        self.strict = strict",
        "        self._seen: set[int] = set()",
        "",
        "    def accept(self, row: dict[str, Any]) -> bool:",
        '        ident = row.get("id")',
        "        if ident is None or ident in self._seen:",
        "            return False",
        "        self._seen.add(ident)",
        f'        return not self.strict or row.get("{f1}") is not None',
        "",
        "    def transform(self, row: dict[str, Any]) -> dict[str, Any]:",
        "        out = dict(row)",
        f'        out["{f2}"] = str(out.get("{f2}") or "").strip().lower()',
        '        out["currency"] = self.currency',
        "        return out",
        "",
        "    def run(self, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:",
        "        return [self.transform(row) for row in rows if self.accept(row)]",
    ]


def f_csv(w: Words, d: Domain) -> List[str]:
    name = w.ident(("write", "export", "dump"), (d.es,), ("csv", "sheet", "rows"))
    cols = w.rng.sample(FIELDS, 4)
    return [
        f"def {name}(rows: Iterable[dict[str, Any]], out: IO[str]) -> int:",
        f"    columns = {cols!r}",
        '    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")',
        "    writer.writeheader()",
        "    count = 0",
        "    for row in rows:",
        "        writer.writerow({column: row.get(column, \"\") for column in columns})",
        "        count += 1",
        "    return count",
    ]


def f_stats(w: Words, d: Domain) -> List[str]:
    name = w.ident(("summarize", "describe", "measure"), THINGS)
    return [
        f"def {name}(values: Sequence[float]) -> dict[str, float]:",
        "    if not values:",
        '        return {"count": 0, "mean": 0.0, "p50": 0.0, "p95": 0.0}',
        "    ordered = sorted(values)",
        "    count = len(ordered)",
        "",
        "    def pick(q: float) -> float:",
        "        return ordered[min(count - 1, int(q * count))]",
        "",
        "    return {",
        '        "count": float(count),',
        '        "mean": sum(ordered) / count,',
        '        "p50": pick(0.50),',
        '        "p95": pick(0.95),',
        '        "max": ordered[-1],',
        "    }",
    ]


def f_cache(w: Words, d: Domain) -> List[str]:
    """An async cache helper: ``.expire(`` is a flushguard prefilter hit that is no session."""
    name = w.ident(("cached", "remember", "memo"), THINGS)
    return [
        (f"async def {name}(redis: Redis, key: str, compute: Callable[[], Awaitable[str]],"
         " ttl: int = 300) -> str:"),
        "    value = await redis.get(key)",
        "    if value is not None:",
        "        await redis.expire(key, ttl)",
        "        return value.decode()",
        "    value = await compute()",
        "    await redis.set(key, value, ex=ttl)",
        "    return value",
    ]


def f_task(w: Words, d: Domain) -> List[str]:
    name = w.ident(("refresh", "recompute", "notify", "expire", "sweep", "reindex"), (d.es,),
                   THINGS)
    return [
        f'@celery_app.task(name="{d.m}.{name}", bind=True, max_retries=5)',
        f"def {name}(self, {d.e}_ids: list[int]) -> int:",
        "    done = 0",
        f"    for chunk in chunked({d.e}_ids, 100):",
        "        try:",
        f'            publish("{d.m}.{name}", {{"ids": list(chunk)}})',
        "            done += len(chunk)",
        "        except ConnectionError as exc:",
        "            raise self.retry(exc=exc, countdown=30)",
        f'    logger.info("{name}: %d {d.es}", done)',
        "    return done",
    ]


FILLERS = (f_group, f_format, f_dataclass, f_http, f_constants, f_parse, f_regex, f_class,
           f_csv, f_stats, f_task)


FILLER_HEADER = """\
from __future__ import annotations

import asyncio
import csv
import logging
import re
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import IO, Any

import httpx
from redis.asyncio import Redis

from app.core.config import settings
from app.tasks.celery import celery_app, chunked, publish

logger = logging.getLogger(__name__)
"""


def filler_module(rng: random.Random, d: Domain, target: int, docstring: str,
                  kinds: Sequence[Callable] = FILLERS, cache: bool = False) -> str:
    src = Source()
    src.add(f'"""{docstring}"""', "")
    src.add(FILLER_HEADER.rstrip("\n"))
    w = Words(rng)
    if cache:
        src.blank(2)
        src.add(*f_cache(w, d))
    while len(src) < target:
        src.blank(2)
        src.add(*rng.choice(kinds)(w, d))
    return src.text()


# Tests --------------------------------------------------------------------------------------


def t_api(w: Words, d: Domain) -> List[str]:
    name = w.ident(("test",), ("create", "update", "list", "get", "archive", "filter"),
                   (d.e,), ("works", "rejects_blank", "paginates", "keeps_order", "is_idempotent",
                            "returns_404", "validates_payload"))
    value = w.rng.choice(("alpha", "beta", "gamma", "delta", "omega"))
    return [
        f"async def {name}(client: AsyncClient, auth_headers: dict[str, str]) -> None:",
        "    response = await client.post(",
        f'        "{d.prefix}",',
        f'        json={{"name": "{value}", "notes": "from {name}"}},',
        "        headers=auth_headers,",
        "    )",
        "    assert response.status_code == 201, response.text",
        "    body = response.json()",
        f'    assert body["name"] == "{value.capitalize()}"',
        (f'    listing = await client.get("{d.prefix}", params={{"limit": 5}},'
         ' headers=auth_headers)'),
        "    assert listing.status_code == 200",
        '    assert any(row["id"] == body["id"] for row in listing.json())',
    ]


def t_param(w: Words, d: Domain) -> List[str]:
    name = w.ident(("test",), (d.e,), ("name", "notes", "payload", "filter"), ("cases", "matrix"))
    return [
        "@pytest.mark.parametrize(",
        '    ("payload", "expected"),',
        "    [",
        '        ({"name": ""}, 422),',
        '        ({"name": "x" * 201}, 422),',
        '        ({"name": "ok"}, 201),',
        '        ({"name": "ok", "notes": None}, 201),',
        "    ],",
        ")",
        f"async def {name}(client: AsyncClient, payload: dict[str, Any], expected: int) -> None:",
        f'    response = await client.post("{d.prefix}", json=payload)',
        "    assert response.status_code == expected",
    ]


def t_unit(w: Words, d: Domain) -> List[str]:
    name = w.ident(("test",), (d.m,), ("helper", "formatter", "parser", "grouping"),
                   ("edge", "basic", "empty"))
    return [
        f"def {name}() -> None:",
        "    rows = [",
        f'        {{"id": 1, "name": "{d.E} one", "status": "draft"}},',
        f'        {{"id": 2, "name": "{d.E} two", "status": "active"}},',
        '        {"id": 3, "name": None, "status": "active"},',
        "    ]",
        '    grouped = {row["status"]: row for row in rows}',
        '    assert set(grouped) == {"draft", "active"}',
        '    assert grouped["active"]["id"] == 3',
        '    assert sorted(r["id"] for r in rows) == [1, 2, 3]',
    ]


TEST_HEADER = """\
from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

pytestmark = pytest.mark.anyio
"""


def test_module(rng: random.Random, d: Domain, target: int, docstring: str) -> str:
    src = Source()
    src.add(f'"""{docstring}"""', "")
    src.add(TEST_HEADER.rstrip("\n"))
    w = Words(rng)
    while len(src) < target:
        src.blank(2)
        src.add(*rng.choice((t_api, t_api, t_param, t_unit))(w, d))
    return src.text()


# --------------------------------------------------------------------------
# The domain's core files
# --------------------------------------------------------------------------


def model_module(d: Domain) -> str:
    src = Source()
    src.add(f'"""{d.E} and its {d.rel}."""', "")
    src.add(
        "import enum",
        "from datetime import date",
        "from decimal import Decimal",
        "",
        "from sqlalchemy import Boolean, Date, Enum, Float, ForeignKey, Integer, Numeric, String,"
        " Text, text",
        "from sqlalchemy.orm import Mapped, mapped_column, relationship",
        "",
        "from app.db.base import Base",
        "from app.db.mixins import IdMixin, SoftDeleteMixin, TimestampMixin",
    )
    src.blank(2)
    src.add(f"class {d.Status}(str, enum.Enum):",
            '    DRAFT = "draft"', '    ACTIVE = "active"', '    ARCHIVED = "archived"')
    src.blank(2)
    src.add(
        f"class {d.E}(IdMixin, TimestampMixin, SoftDeleteMixin, Base):",
        f'    __tablename__ = "{d.table}"',
        "",
        "    name: Mapped[str] = mapped_column(String(200), index=True)",
        f"    status: Mapped[{d.Status}] = mapped_column(Enum({d.Status}),"
        f" default={d.Status}.DRAFT)",
        "    notes: Mapped[str | None] = mapped_column(Text)",
        '    priority: Mapped[int] = mapped_column(Integer, server_default=text("0"))',
    )
    for name, annotation, args, _, _ in d.extras:
        src.add(f"    {name}: Mapped[{annotation}] = mapped_column({args})")
    src.add(
        "",
        f'    {d.rel}: Mapped[list["{d.C}"]] = relationship(',
        f'        back_populates="{d.m}", cascade="all, delete-orphan", order_by="{d.C}.id"',
        "    )",
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
        "",
        f'    {d.m}: Mapped[{d.E}] = relationship(back_populates="{d.rel}")',
    )
    return src.text()


def schema_module(d: Domain) -> str:
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
    src.add(f"class {d.E}Base(BaseModel):",
            "    name: str = Field(min_length=1, max_length=200)",
            "    notes: str | None = None")
    for name, _, _, annotation, sample in d.extras:
        src.add(f"    {name}: {annotation} = {sample}")
    src.blank(2)
    src.add(f"class {d.E}Create({d.E}Base):", "    pass")
    src.blank(2)
    src.add(f"class {d.E}Update(BaseModel):",
            "    name: str | None = Field(default=None, min_length=1, max_length=200)",
            "    notes: str | None = None")
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
    return src.text()


SERVICE_HEADER = """\
import logging
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.core.errors import ConflictError, NotFoundError, ValidationError
from app.db.base import Base
"""


@dataclass
class ServicePlan:
    text: str
    routes: List[Route]
    marks: List[Tuple[int, str]]
    lines: int


def service_module(rng: random.Random, d: Domain, target: int) -> ServicePlan:
    # The number of bugs cycles with the domain (which bugs is random): every run of
    # len(BUG_COUNTS) domains holds the same number, so findings grow with the domains.
    bugs = rng.sample(BUGS, BUG_COUNTS[d.index % len(BUG_COUNTS)])
    safe = rng.sample(SAFE, rng.randint(4, 8))
    chosen: List[Callable[[Domain, str], Method]] = list(REQUIRED) + bugs + safe
    optional = [t for t in PLAIN + HELPERS if t not in REQUIRED]
    chosen += rng.sample(optional, rng.randint(2, len(optional)))
    rng.shuffle(chosen)
    src = Source()
    src.add(f'"""Business rules of {d.es}: creation, updates, state changes and queries."""', "")
    src.add(SERVICE_HEADER.rstrip("\n"))
    src.add(f"from app.models.{d.m} import {d.C}, {d.E}, {d.Status}",
            f"from app.schemas.{d.m} import {d.E}Create, {d.E}Update")
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
            "",
            "    async def _save(self, obj: Base) -> None:",
            "        self.db.add(obj)",
            "        await self.db.flush()")
    routes: List[Route] = []
    names: Dict[str, int] = {}

    def emit(template: Callable[[Domain, str], Method], variant: str) -> None:
        method = template(d, variant)
        src.blank()
        for line in method.lines:
            src.add(("    " + line) if line else "")
        if method.route is not None:
            routes.append(method.route)

    for template in chosen:
        names[template.__name__] = 1
        emit(template, "")
    # Longer services repeat the safe and plain shapes under new names (v2, v3, ...).
    repeatable = (list(PLAIN[1:]) + [s for s in SAFE if s is not s_create_refresh]
                  + list(HELPERS[1:]))
    while len(src) < target:
        template = rng.choice(repeatable)
        names[template.__name__] = names.get(template.__name__, 0) + 1
        emit(template, f"_v{names[template.__name__]}")
    text = src.text()
    return ServicePlan(text, routes, src.marks, text.count("\n"))


def router_module(rng: random.Random, d: Domain, routes: Sequence[Route]) -> str:
    injected = rng.random() < 0.5
    src = Source()
    src.add(f'"""HTTP endpoints of {d.prefix}."""', "")
    src.add(
        "from typing import Annotated",
        "",
        "from fastapi import APIRouter, Depends, HTTPException, Query, status",
        "from sqlalchemy.ext.asyncio import AsyncSession",
        "",
        "from app.api.deps import CurrentUser",
        "from app.db.session import get_db",
        f"from app.schemas.{d.m} import {d.E}Brief, {d.E}Create, {d.E}Out, {d.E}Page, {d.E}Update",
        f"from app.services.{d.m} import {d.S}",
    )
    src.blank()
    src.add(f'router = APIRouter(prefix="{d.prefix}", tags=["{d.es.replace("_", "-")}"])')
    if injected:
        src.blank(2)
        src.add(f"def get_{d.m}_service(db: AsyncSession = Depends(get_db)) -> {d.S}:",
                f"    return {d.S}(db)")
        src.blank(2)
        src.add(f"{d.S}Dep = Annotated[{d.S}, Depends(get_{d.m}_service)]")
    for route in routes:
        src.blank(2)
        decorator = f'@router.{route.verb}("{route.path}"'
        if route.response_model:
            decorator += f", response_model={route.response_model}"
        if route.status:
            decorator += f", status_code={route.status}"
        src.add(decorator + ")")
        # Parameters without defaults first, as Python wants.
        params = [p for p in route.params if "=" not in p]
        params += [f"service: {d.S}Dep"] if injected else []
        params += ["user: CurrentUser"] + [p for p in route.params if "=" in p]
        if injected:
            call = f"await service.{route.method}({route.args})"
        else:
            params.append("db: AsyncSession = Depends(get_db)")
            call = f"await {d.S}(db).{route.method}({route.args})"
        src.add(f"async def {route.handler}(", *[f"    {p}," for p in params], "):")
        if route.returns_none_check:
            src.add(f"    {d.e} = {call}",
                    f"    if {d.e} is None:",
                    f'        raise HTTPException(status.HTTP_404_NOT_FOUND, "{d.E} not found")',
                    f"    return {d.e}")
        else:
            src.add(f"    return {call}")
    # A paginated listing that builds its own response body.
    src.blank(2)
    src.add(f'@router.get("/page", response_model={d.E}Page)')
    if injected:
        src.add(f"async def page_{d.es}(service: {d.S}Dep, offset: int = 0, limit: int = 50):",
                f"    items = await service.list_{d.es}(offset=offset, limit=limit)")
    else:
        src.add(f"async def page_{d.es}(offset: int = 0, limit: int = 50,"
                " db: AsyncSession = Depends(get_db)):",
                f"    items = await {d.S}(db).list_{d.es}(offset=offset, limit=limit)")
    src.add(f"    return {d.E}Page(items=items, total=len(items), offset=offset, limit=limit)")
    return src.text()


def repository_module(rng: random.Random, d: Domain, target: int) -> str:
    """Read-only queries: async, but no flush."""
    src = Source()
    src.add(f'"""Read models of {d.es} for dashboards and exports (read-only)."""', "")
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
            "        self.session = session")
    add_read_queries(src, rng, d, target, ("recent", "stale", "open", "busy", "top", "orphaned"))
    return src.text()


def add_read_queries(src: "Source", rng: random.Random, d: Domain, target: int,
                     adjectives: Sequence[str]) -> None:
    """Read-only query methods of a repository class, until ``src`` has ``target`` lines: a
    recent-rows select, a grouped count, a selectinload by ids (named from ``adjectives``)."""
    w = Words(rng)
    while len(src) < target:
        name = w.ident(adjectives, (d.es,))
        kind = rng.randint(0, 2)
        src.blank()
        if kind == 0:
            src.add(
                f"    async def {name}(self, since: datetime, limit: int = 100)"
                f" -> Sequence[{d.E}]:",
                "        stmt = (",
                f"            select({d.E})",
                f"            .where(and_({d.E}.updated_at >= since, {d.E}.deleted_at.is_(None)))",
                f"            .order_by({d.E}.updated_at.desc())",
                "            .limit(limit)",
                "        )",
                "        return (await self.session.execute(stmt)).scalars().all()")
        elif kind == 1:
            src.add(
                f"    async def {name}(self, min_{d.rel}: int = 1) -> list[tuple[int, int]]:",
                "        stmt = (",
                f"            select({d.C}.{d.fk}, func.count({d.C}.id))",
                f"            .group_by({d.C}.{d.fk})",
                f"            .having(func.count({d.C}.id) >= min_{d.rel})",
                "        )",
                "        return [(row[0], row[1]) for row in await self.session.execute(stmt)]")
        else:
            src.add(
                f"    async def {name}(self, ids: Sequence[int]) -> dict[int, {d.E}]:",
                "        if not ids:",
                "            return {}",
                "        stmt = (",
                f"            select({d.E})",
                f"            .options(selectinload({d.E}.{d.rel}))",
                f"            .where(or_({d.E}.id.in_(ids), {d.E}.status == {d.Status}.ACTIVE))",
                "        )",
                "        rows = (await self.session.execute(stmt)).scalars().all()",
                f"        return {{{d.e}.id: {d.e} for {d.e} in rows}}")


TIMESTAMP_COLUMNS = tuple(
    f'        sa.Column("{name}", sa.DateTime(timezone=True), server_default=sa.func.now()),'
    for name in ("created_at", "updated_at"))


def migration_module(rng: random.Random, d: Domain, revision: str, down: Optional[str]) -> str:
    src = Source()
    src.add(f'"""create {d.table}', "", f"Revision ID: {revision}",
            f"Revises: {down or ''}", '"""', "")
    src.add("import sqlalchemy as sa", "from alembic import op", "",
            f'revision = "{revision}"', f"down_revision = {down!r}",
            "branch_labels = None", "depends_on = None")
    src.blank(2)
    src.add("def upgrade() -> None:",
            "    op.create_table(",
            f'        "{d.table}",',
            '        sa.Column("id", sa.Integer(), nullable=False),',
            '        sa.Column("name", sa.String(length=200), nullable=False),',
            '        sa.Column("status", sa.String(length=20), nullable=False),',
            '        sa.Column("notes", sa.Text(), nullable=True),',
            '        sa.Column("priority", sa.Integer(), server_default=sa.text("0"),'
            ' nullable=False),',
            TIMESTAMP_COLUMNS[0],
            TIMESTAMP_COLUMNS[1],
            '        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),',
            '        sa.PrimaryKeyConstraint("id"),',
            "    )",
            f'    op.create_index("ix_{d.table}_name", "{d.table}", ["name"])',
            "    op.create_table(",
            f'        "{d.ctable}",',
            '        sa.Column("id", sa.Integer(), nullable=False),',
            f'        sa.Column("{d.fk}", sa.Integer(),'
            f' sa.ForeignKey("{d.table}.id", ondelete="CASCADE")),',
            '        sa.Column("label", sa.String(length=120), nullable=False),',
            '        sa.Column("quantity", sa.Integer(), nullable=False),',
            TIMESTAMP_COLUMNS[0],
            TIMESTAMP_COLUMNS[1],
            '        sa.PrimaryKeyConstraint("id"),',
            "    )")
    src.blank(2)
    src.add("def downgrade() -> None:", f'    op.drop_table("{d.ctable}")',
            f'    op.drop_index("ix_{d.table}_name", table_name="{d.table}")',
            f'    op.drop_table("{d.table}")')
    return src.text()


def factory_module(domains: Sequence[Domain]) -> str:
    """Test factories: they flush and return the object; the tests read only its id and name."""
    src = Source()
    src.add('"""Factories for tests: persisted objects with sensible defaults."""', "")
    src.add("from sqlalchemy.ext.asyncio import AsyncSession", "")
    for d in domains:
        src.add(f"from app.models.{d.m} import {d.E}")
    for d in domains:
        src.blank(2)
        src.add(f'async def make_{d.e}(session: AsyncSession, name: str = "{d.E} sample")'
                f' -> {d.E}:',
                f"    {d.e} = {d.E}(name=name)",
                f"    session.add({d.e})",
                "    await session.flush()",
                f"    return {d.e}")
    return src.text()


def factory_test_module(rng: random.Random, d: Domain, factories: str) -> str:
    src = Source()
    src.add(f'"""{d.S} against a real session."""', "")
    src.add("import pytest", "from sqlalchemy.ext.asyncio import AsyncSession", "",
            f"from app.services.{d.m} import {d.S}", f"from {factories} import make_{d.e}", "",
            "pytestmark = pytest.mark.anyio")
    for i in range(rng.randint(2, 5)):
        src.blank(2)
        src.add(f"async def test_{d.e}_lookup_{i}(session: AsyncSession) -> None:",
                f'    {d.e} = await make_{d.e}(session, name="lookup {i}")',
                f"    found = await {d.S}(session).get_{d.e}({d.e}.id)",
                "    assert found is not None",
                f"    assert found.name == {d.e}.name")
    return src.text()


# --------------------------------------------------------------------------
# Shared files
# --------------------------------------------------------------------------

SHARED: Dict[str, str] = {
    "pyproject.toml": """\
[project]
name = "atlas-backend"
version = "3.14.0"
requires-python = ">=3.11"
dependencies = [
    "fastapi==0.115.6",
    "pydantic==2.10.4",
    "sqlalchemy[asyncio]==2.0.36",
    "aiomysql==0.2.0",
    "alembic==1.14.0",
    "httpx==0.28.1",
    "redis==5.2.1",
    "celery==5.4.0",
]
""",
    "alembic.ini": """\
[alembic]
script_location = migrations
sqlalchemy.url = mysql+aiomysql://atlas:atlas@localhost:3306/atlas
""",
    "app/__init__.py": "",
    "app/core/__init__.py": "",
    "app/core/config.py": """\
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    DATABASE_URL: str = "mysql+aiomysql://atlas:atlas@localhost:3306/atlas"
    REDIS_URL: str = "redis://localhost:6379/0"
    SECRET_KEY: str = "change-me"
    PAGE_SIZE: int = 50
""" + "".join(f'    {v.upper()}_URL: str = "https://api.{v}.example"\n' for v in VENDORS) + """

settings = Settings()
""",
    "app/core/errors.py": """\
class AppError(Exception):
    status_code = 400


class NotFoundError(AppError):
    status_code = 404

    def __init__(self, kind: str, ident: object) -> None:
        super().__init__(f"{kind} {ident} not found")


class ConflictError(AppError):
    status_code = 409


class ValidationError(AppError):
    status_code = 422
""",
    "app/db/__init__.py": "",
    "app/db/base.py": """\
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
""",
    "app/db/mixins.py": """\
from datetime import datetime

from sqlalchemy import DateTime, func
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
""",
    "app/db/session.py": """\
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from app.core.config import settings

engine = create_async_engine(settings.DATABASE_URL, pool_pre_ping=True, pool_size=10)
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)


async def get_db() -> AsyncIterator[AsyncSession]:
    async with SessionLocal() as session:
        try:
            yield session
            await session.commit()
        except Exception:
            await session.rollback()
            raise
""",
    "app/api/__init__.py": "",
    "app/api/deps.py": """\
from typing import Annotated

from fastapi import Depends, Header, HTTPException, status


class User:
    def __init__(self, ident: int, scopes: frozenset[str]) -> None:
        self.ident = ident
        self.scopes = scopes


async def current_user(authorization: str = Header(default="")) -> User:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "not authenticated")
    return User(ident=hash(token) % 100_000, scopes=frozenset({"read", "write"}))


CurrentUser = Annotated[User, Depends(current_user)]
""",
    "app/tasks/__init__.py": "",
    "app/tasks/celery.py": """\
import json
from collections.abc import Iterator, Sequence
from typing import Any

from celery import Celery

from app.core.config import settings

celery_app = Celery("atlas", broker=settings.REDIS_URL)


def chunked(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def publish(topic: str, payload: dict[str, Any]) -> None:
    celery_app.send_task("events.publish", args=[topic, json.dumps(payload)])
""",
    "scripts/init_db.py": """\
import asyncio

from app.db.base import Base
from app.db.session import engine


async def main() -> None:
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)


if __name__ == "__main__":
    asyncio.run(main())
""",
    "tests/__init__.py": "",
    "tests/conftest.py": """\
from collections.abc import AsyncIterator

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.session import engine
from app.main import app


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def session() -> AsyncIterator[AsyncSession]:
    async with engine.connect() as connection:
        transaction = await connection.begin()
        async with AsyncSession(bind=connection, expire_on_commit=False) as session:
            yield session
        await transaction.rollback()


@pytest.fixture
async def client() -> AsyncIterator[AsyncClient]:
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        yield client


@pytest.fixture
def auth_headers() -> dict[str, str]:
    return {"Authorization": "Bearer test-token"}
""",
    "migrations/env.py": """\
from alembic import context

from app.db.base import Base

target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(url=context.config.get_main_option("sqlalchemy.url"),
                      target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


run_migrations_offline()
""",
}

PACKAGES = ("app/models", "app/schemas", "app/services", "app/routers", "app/repositories",
            "app/utils", "app/reports", "app/integrations", "app/validators", "app/exporters",
            "app/events", "app/permissions", "app/constants", "app/serializers",
            "app/notifications", "app/webhooks", "app/cache", "app/cli", "tests/factories")

#: Optional files of a domain, in the order they are dropped when the project is full:
#: (kind, probability, (min lines, max lines)).
EXTRAS = (
    ("tests_api", 1.0, (60, 320)),
    ("tests_unit", 0.9, (40, 180)),
    ("utils", 1.0, (40, 420)),
    ("reports", 0.8, (120, 650)),
    ("integrations", 0.7, (80, 320)),
    ("tasks", 0.8, (50, 200)),
    ("validators", 0.8, (30, 140)),
    ("exporters", 0.7, (50, 220)),
    ("events", 0.6, (30, 120)),
    ("permissions", 0.6, (20, 90)),
    ("constants", 0.6, (20, 90)),
    ("migration", 1.0, (0, 0)),
    ("tests_helpers", 0.6, (30, 150)),
    ("scripts", 0.25, (40, 160)),
    ("tests_init", 1.0, (0, 0)),
    ("tests_service", 0.2, (0, 0)),
    ("tests_filters", 0.9, (50, 260)),
    ("serializers", 0.7, (40, 220)),
    ("notifications", 0.6, (40, 180)),
    ("webhooks", 0.5, (60, 240)),
    ("fixtures", 0.6, (40, 300)),
    ("cache", 0.4, (30, 120)),
    ("cli", 0.4, (40, 160)),
    ("tests_e2e", 0.5, (60, 260)),
)
FACTORY_GROUP = 8   # domains per tests/factories/ module


@dataclass
class Project:
    root: Path
    files: int = 0
    lines: int = 0
    bytes: int = 0
    domains: int = 0
    #: Files that call flush/commit/rollback on a session (planted or plumbing).
    flush_files: int = 0
    expected: List[Expected] = field(default_factory=list)
    #: The first service module (what a "one file changed" run edits).
    first_service: Optional[str] = None
    profile: str = "default"
    #: Mapped classes (models) the project defines.
    models: int = 0
    #: Real bugs today's analysis does not see (see ``LATENT``): not expected.
    latent: List[Expected] = field(default_factory=list)
    #: ``.flush(`` and ``.commit(`` calls of every Python file that has any: path -> (n, n).
    sites: Dict[str, Tuple[int, int]] = field(default_factory=dict)

    def summary(self) -> Dict[str, object]:
        flush = sum(f for f, _ in self.sites.values())
        commit = sum(c for _, c in self.sites.values())
        return {"profile": self.profile, "files": self.files, "lines": self.lines,
                "bytes": self.bytes, "domains": self.domains, "models": self.models,
                "flush_files": self.flush_files, "flush_sites": flush, "commit_sites": commit,
                "expected_findings": len(self.expected),
                "expected_by_code": dict(sorted(_by_code(self.expected).items())),
                "latent_findings": len(self.latent),
                "latent_by_code": dict(sorted(_by_code(self.latent).items())),
                "first_service": self.first_service}


def _by_code(expected: Sequence[Expected]) -> Dict[str, int]:
    counts: Dict[str, int] = {}
    for item in expected:
        counts[item.code] = counts.get(item.code, 0) + 1
    return counts


FLUSH_MARKERS = (".flush(", ".commit(", ".rollback(")
MODEL_CLASS = re.compile(r"^class \w+\(.*\bBase\):", re.M)


def write_project(project: Project, written: Dict[str, str]) -> None:
    """Write every file under ``project.root`` and count what the summary reports."""
    for path, text in written.items():
        target = project.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        if path.endswith(".py"):
            project.files += 1
            project.lines += text.count("\n")
            project.bytes += len(text.encode("utf-8"))
            if any(marker in text for marker in FLUSH_MARKERS):
                project.flush_files += 1
            flush, commit = text.count(".flush("), text.count(".commit(")
            if flush or commit:
                project.sites[path] = (flush, commit)
            if path.startswith("app/models/"):
                project.models += len(MODEL_CLASS.findall(text))
    project.expected.sort(key=lambda e: (e.path, e.line, e.code))
    project.latent.sort(key=lambda e: (e.path, e.line, e.code))


def plan_files(files: int,
               seed: int) -> Iterator[Tuple[str, Optional[Domain], str, random.Random]]:
    """(path, domain, kind, rng) of every file of a project of ``files`` files, in order."""
    shared = list(SHARED) + [f"{p}/__init__.py" for p in PACKAGES] + ["app/main.py"]
    for path in shared:
        yield path, None, "shared", random.Random(f"{seed}:{path}")
    count = sum(1 for path in shared if path.endswith(".py"))
    index = 0
    while count < files:
        d = make_domain(index, seed)
        rng = random.Random(f"{seed}:files:{index}")
        core = ["model", "schema", "service", "router", "repository"]
        optional = [kind for kind, p, _ in EXTRAS if rng.random() < p]
        room = files - count
        if room <= len(core):
            # Not enough room for a whole domain: fill with utility modules.
            for i in range(room):
                rng = random.Random(f"{seed}:misc:{index}:{i}")
                yield f"app/utils/misc_{index}_{i}.py", d, "utils", rng
            return
        kinds = core + optional[: room - len(core)]
        if index % FACTORY_GROUP == 0 and len(kinds) < room:
            kinds.append("factories")
        for kind in kinds:
            yield _path(d, kind, index), d, kind, random.Random(f"{seed}:{kind}:{index}")
        count += len(kinds)
        index += 1


def _path(d: Domain, kind: str, index: int) -> str:
    return {
        "model": f"app/models/{d.m}.py",
        "schema": f"app/schemas/{d.m}.py",
        "service": f"app/services/{d.m}.py",
        "router": f"app/routers/{d.m}.py",
        "repository": f"app/repositories/{d.m}.py",
        "tests_api": f"tests/{d.m}/test_{d.m}_api.py",
        "tests_unit": f"tests/{d.m}/test_{d.m}_helpers.py",
        "tests_helpers": f"tests/{d.m}/helpers.py",
        "tests_init": f"tests/{d.m}/__init__.py",
        "tests_service": f"tests/{d.m}/test_{d.m}_service.py",
        "utils": f"app/utils/{d.m}.py",
        "reports": f"app/reports/{d.m}_report.py",
        "integrations": f"app/integrations/{d.m}_sync.py",
        "tasks": f"app/tasks/{d.m}.py",
        "validators": f"app/validators/{d.m}.py",
        "exporters": f"app/exporters/{d.m}.py",
        "events": f"app/events/{d.m}.py",
        "permissions": f"app/permissions/{d.m}.py",
        "constants": f"app/constants/{d.m}.py",
        "migration": f"migrations/versions/{index:04d}_create_{d.table}.py",
        "scripts": f"scripts/backfill_{d.m}.py",
        "tests_filters": f"tests/{d.m}/test_{d.m}_filters.py",
        "tests_e2e": f"tests/{d.m}/test_{d.m}_flows.py",
        "fixtures": f"tests/{d.m}/fixtures.py",
        "serializers": f"app/serializers/{d.m}.py",
        "notifications": f"app/notifications/{d.m}.py",
        "webhooks": f"app/webhooks/{d.m}.py",
        "cache": f"app/cache/{d.m}.py",
        "cli": f"app/cli/{d.m}.py",
        "factories": f"tests/factories/group_{index // FACTORY_GROUP:03d}.py",
    }[kind]


def _revision(seed: int, index: int) -> str:
    """An Alembic revision id: the index, then 8 seeded hex digits."""
    return f"{index:04d}{random.Random(f'{seed}:rev:{index}').getrandbits(32):08x}"


def _lines(kind: str, rng: random.Random) -> int:
    low, high = next(r for k, _, r in EXTRAS if k == kind)
    # Mostly short and medium modules, a long tail of long ones.
    return int(low + (high - low) * rng.random() ** 1.6)


#: The generators: ``default`` is this module's, ``service`` is service_heavy.py's.
PROFILES = ("default", "service")


def generate(root: Path, files: int, seed: int = 1, profile: str = "default",
             reveal: bool = False) -> Project:
    """Write a project of exactly ``files`` Python files (plus two config files) under ``root``.

    ``profile`` picks the generator (:data:`PROFILES`); ``reveal`` (service profile) writes the
    latent bugs in a shape today's analysis follows, so that they are expected too."""
    if profile == "service":
        import service_heavy
        return service_heavy.generate(root, files, seed, reveal=reveal)
    if profile != "default":
        raise ValueError(f"unknown profile {profile!r} (expected one of {', '.join(PROFILES)})")
    root = Path(root)
    project = Project(root=root)
    routers: List[Domain] = []
    written: Dict[str, str] = {}
    routes: Dict[int, List[Route]] = {}
    plan = list(plan_files(files, seed))
    with_factories = {d.index for _, d, kind, _ in plan if kind == "factories"}
    # A factory exists only for a domain whose service tests use it: a factory nobody calls
    # returns an object whose consumers cannot be traced (a *possible* finding).
    tested = {d.index for _, d, kind, _ in plan if kind == "tests_service"
              and d.index // FACTORY_GROUP * FACTORY_GROUP in with_factories}
    for path, d, kind, rng in plan:
        if kind == "shared":
            if path == "app/main.py":
                continue  # written last: it includes every router
            text = SHARED.get(path, "")
        elif kind == "model":
            text = model_module(d)
        elif kind == "schema":
            text = schema_module(d)
        elif kind == "service":
            target = int(280 + 700 * rng.random() ** 2)
            planned = service_module(rng, d, target)
            text = planned.text
            project.expected.extend(Expected(path, line, code) for line, code in planned.marks)
            routes[d.index] = planned.routes
            if project.first_service is None:
                project.first_service = path
        elif kind == "router":
            text = router_module(rng, d, routes.pop(d.index))
            routers.append(d)
        elif kind == "repository":
            text = repository_module(rng, d, rng.randint(60, 220))
        elif kind in ("tests_api", "tests_filters", "tests_e2e"):
            text = test_module(rng, d, _lines(kind, rng), f"API tests of {d.prefix}.")
        elif kind in ("tests_unit", "tests_helpers"):
            text = filler_module(rng, d, _lines(kind, rng), f"Helpers for the {d.m} tests.") \
                if kind == "tests_helpers" else test_module(rng, d, _lines(kind, rng),
                                                             f"Unit tests of the {d.m} helpers.")
        elif kind == "tests_init":
            text = ""
        elif kind == "tests_service":
            group = d.index // FACTORY_GROUP * FACTORY_GROUP
            if group in with_factories:
                module = f"tests.factories.group_{group // FACTORY_GROUP:03d}"
                text = factory_test_module(rng, d, module)
            else:
                text = test_module(rng, d, 80, f"Service tests of {d.prefix}.")
        elif kind == "factories":
            group = [make_domain(i, seed) for i in range(d.index, d.index + FACTORY_GROUP)]
            text = factory_module([g for g in group if g.index in tested])
        elif kind == "migration":
            revision = _revision(seed, d.index)
            down = _revision(seed, d.index - 1) if d.index else None
            text = migration_module(rng, d, revision, down)
        else:
            docstrings = {
                "utils": f"Small helpers around {d.es}.",
                "reports": f"Periodic reports on {d.es}: grouping, totals, rendering.",
                "integrations": f"Keeps {d.es} in step with external systems.",
                "tasks": f"Background jobs for {d.es}.",
                "validators": f"Input checks for {d.es}.",
                "exporters": f"CSV and JSON exports of {d.es}.",
                "events": f"Domain events of {d.es}.",
                "permissions": f"Who may do what with {d.es}.",
                "constants": f"Codes and limits of {d.es}.",
                "scripts": f"One-off maintenance of {d.es}.",
                "fixtures": f"Sample {d.es} for the tests.",
                "serializers": f"Wire formats of {d.es} for other services.",
                "notifications": f"E-mails and chat messages about {d.es}.",
                "webhooks": f"Incoming webhooks that mention {d.es}.",
                "cache": f"Cached lookups of {d.es}.",
                "cli": f"Command-line tools for {d.es}.",
            }
            if kind == "utils" and path.startswith("app/utils/misc_"):
                target = rng.randint(40, 200)
            else:
                target = _lines(kind, rng)
            kinds = FILLERS
            if kind == "constants":
                kinds = (f_constants,)
            elif kind == "tasks":
                kinds = (f_task, f_task, f_group, f_stats)
            elif kind == "fixtures":
                kinds = (f_constants, f_dataclass)
            elif kind == "webhooks":
                kinds = (f_http, f_parse, f_regex, f_class)
            elif kind == "serializers":
                kinds = (f_class, f_dataclass, f_format, f_csv)
            text = filler_module(rng, d, target, docstrings.get(kind, "Helpers."), kinds,
                                 cache=kind == "cache"
                                 or (kind == "integrations" and rng.random() < 0.3))
        written[path] = text
    written["app/main.py"] = main_module(routers)
    project.domains = len(routers)
    write_project(project, written)
    return project


def main_module(domains: Sequence[Domain]) -> str:
    src = Source()
    src.add('"""The ASGI application."""', "")
    src.add("from fastapi import FastAPI", "")
    src.add("from app.routers import (")
    for d in domains:
        src.add(f"    {d.m},")
    src.add(")", "", 'app = FastAPI(title="Atlas", version="3.14.0")', "")
    for d in domains:
        src.add(f'app.include_router({d.m}.router, prefix="/api/v1")')
    return src.text()


def touch(project_root: Path, path: str, n: int = 1) -> None:
    """Edit one file the way a developer does: a new small function at the end."""
    target = Path(project_root) / path
    text = target.read_text(encoding="utf-8")
    text += f"\n\ndef _edited_{n}() -> int:\n    return {n}\n"
    target.write_text(text, encoding="utf-8")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder to write the project into (must not exist)")
    parser.add_argument("--files", type=int, default=1000, help="Python files (default 1000)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--profile", choices=PROFILES, default="default",
                        help="default: a FastAPI application where about 5 %% of the files flush; "
                             "service: a service-heavy backend where most service files flush "
                             "or commit (default: default)")
    parser.add_argument("--reveal", action="store_true",
                        help="service profile: write the latent bugs in a shape today's analysis "
                             "follows (they are then expected)")
    parser.add_argument("--expected", action="store_true",
                        help="also print every planted finding (path:line: CODE), and every "
                             "latent one (path:line: CODE latent)")
    args = parser.parse_args(argv)
    if args.out.exists():
        parser.error(f"{args.out} exists")
    project = generate(args.out, args.files, args.seed, args.profile, args.reveal)
    print(json.dumps(project.summary(), indent=2))
    if args.expected:
        for item in project.expected:
            print(f"{item.path}:{item.line}: {item.code}")
        for item in project.latent:
            print(f"{item.path}:{item.line}: {item.code} latent")
    return 0


if __name__ == "__main__":
    sys.exit(main())

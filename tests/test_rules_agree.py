"""check and the audit's models table agree on every cell of the rules.

For every kind of column and relationship, on every backend, SQLAlchemy 1.4 and 2, each
``eager_defaults`` setting and with and without ``implicit_returning``, the audit's models
table says what an INSERT and an UPDATE leave of the attribute (loaded, unloaded, possible),
and ``check`` is run on code that does exactly that (a new object flushed; a loaded object
with another column changed, flushed) and then reads the attribute. The two must say the
same thing: they ask the same rules (``codemods.analysis.orm_rules``).
"""

from __future__ import annotations

import itertools
import textwrap
from typing import Dict, Optional, Tuple

import pytest

from codemods import audit, frontend
from codemods.analysis import analyze
from codemods.analysis.lower import lower_module
from codemods.types import (
    BACKENDS,
    ColumnFacts,
    ExpressionFacts,
    ModelFacts,
    ModelIndex,
    RelationshipFacts,
    Settings,
)

#: The attribute under test, by kind: a column, a column_property or a relationship.
COLUMNS: Dict[str, ColumnFacts] = {
    "server-default": ColumnFacts("value", server_default=True),
    "sql-default": ColumnFacts("value", default="sql"),
    "python-default": ColumnFacts("value", default="python"),
    "python-and-server-default": ColumnFacts("value", default="python", server_default=True),
    "sql-and-server-default": ColumnFacts("value", default="sql", server_default=True),
    "computed": ColumnFacts("value", computed=True),
    "fetched-value": ColumnFacts("value", server_default=True, server_onupdate=True),
    "sql-onupdate": ColumnFacts("value", onupdate="sql"),
    "python-onupdate": ColumnFacts("value", onupdate="python"),
    "server-default-and-sql-onupdate": ColumnFacts("value", server_default=True, onupdate="sql"),
    "server-onupdate": ColumnFacts("value", server_onupdate=True),
    "deferred": ColumnFacts("value", deferred=True),
    "plain": ColumnFacts("value"),
}
EXPRESSIONS: Dict[str, ExpressionFacts] = {
    "column-property": ExpressionFacts("value"),
    "column-property-kept-on-flush": ExpressionFacts("value", expire_on_flush=False),
}
LAZY = ("select", "selectin", "joined", "subquery", "immediate", "raise", "raise_on_sql",
        "noload", "dynamic", "write_only")
RELATIONSHIPS: Dict[str, RelationshipFacts] = {
    **{f"collection-{lazy}": RelationshipFacts("value", target="Other", lazy=lazy) for lazy in LAZY},
    **{f"many-to-one-{lazy}": RelationshipFacts("value", target="Other", lazy=lazy, collection=False,
                                                foreign_keys=("other_id",))
       for lazy in LAZY if lazy not in ("dynamic", "write_only")},
}
KINDS = sorted([*COLUMNS, *EXPRESSIONS, *RELATIONSHIPS])


def _model(kind: str, eager_defaults: Optional[bool], implicit_returning: bool) -> ModelFacts:
    columns = [ColumnFacts("id", primary_key=True), ColumnFacts("other"),
               ColumnFacts("other_id", foreign_key="others.id")]
    expressions: Tuple[ExpressionFacts, ...] = ()
    relationships: Tuple[RelationshipFacts, ...] = ()
    if kind in COLUMNS:
        columns.append(COLUMNS[kind])
    elif kind in EXPRESSIONS:
        expressions = (EXPRESSIONS[kind],)
    else:
        relationships = (RELATIONSHIPS[kind],)
    return ModelFacts(name="Thing", qualname="app.models.Thing", path="app/models.py", line=1,
                      columns=tuple(columns), expressions=expressions, relationships=relationships,
                      eager_defaults=eager_defaults, implicit_returning=implicit_returning)


INSERT = """\
from app.models import Thing


async def insert(session):
    thing = Thing({given})
    session.add(thing)
    await session.flush()
    print(thing.value)
"""

UPDATE = """\
from app.models import Thing


async def update(session):
    thing = await session.get(Thing, 1)
    thing.other = 2
    await session.flush()
    print(thing.value)
"""


def _check(model: ModelFacts, settings: Settings, source: str) -> str:
    """What ``check`` says of the read of ``thing.value`` at the end of ``source``."""
    text = textwrap.dedent(source)
    result = analyze(lower_module(frontend.parse(text), text), text, "app/service.py",
                     ModelIndex((model,)), settings, "app.service")
    found = [f for f in result.findings if "value" in f.attributes]
    if not found:
        return audit.LOADED
    return audit.POSSIBLE if all(f.certainty == "possible" for f in found) else audit.UNLOADED


def _audit(model: ModelFacts, settings: Settings) -> Tuple[str, str]:
    """What the audit's models table says of ``value`` after an INSERT and an UPDATE."""
    rows = {row.name: row for row in audit.model_audit(model, settings).attributes}
    row = rows.get("value")
    if row is None:
        return audit.LOADED, audit.LOADED
    # A relationship that a read never loads implicitly is no finding for check either.
    return tuple(audit.LOADED if s.status == audit.NEVER_LOADS else s.status  # type: ignore[return-value]
                 for s in (row.insert, row.update))


CELLS = list(itertools.product(KINDS, BACKENDS, ("1.4", "2"), (None, True, False), (True, False)))


@pytest.mark.parametrize("kind", KINDS)
def test_check_and_audit_agree_after_insert_and_update(kind: str) -> None:
    disagree = []
    checked = 0
    for backend, version, eager, returning in itertools.product(
            BACKENDS, ("1.4", "2"), (None, True, False), (True, False)):
        model = _model(kind, eager, returning)
        settings = Settings(backend=backend, sqlalchemy=version)  # type: ignore[arg-type]
        # A many-to-one is loaded or not by its foreign key: the audit's row is for a new object
        # whose key was set (unset, it reads None without SQL).
        given = "other_id=1" if kind.startswith("many-to-one") else ""
        expected_insert, expected_update = _audit(model, settings)
        insert = _check(model, settings, INSERT.format(given=given))
        update = _check(model, settings, UPDATE)
        checked += 1
        if (insert, update) != (expected_insert, expected_update):
            disagree.append((backend, version, eager, returning, ("check", insert, update),
                             ("audit", expected_insert, expected_update)))
    assert checked == len(BACKENDS) * 2 * 3 * 2
    assert disagree == [], f"{kind}: {len(disagree)} cells disagree: {disagree[:5]}"


def test_the_matrix_covers_every_kind_and_setting() -> None:
    assert len(CELLS) == len(KINDS) * 5 * 2 * 3 * 2
    assert {"server-default", "sql-default", "python-and-server-default", "computed", "sql-onupdate",
            "server-onupdate", "deferred", "column-property", "collection-select",
            "many-to-one-select"} <= set(KINDS)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("version", ("1.4", "2"))
def test_a_default_beside_a_server_default_decides_as_measured(backend: str, version: str) -> None:
    """docs/semantics.md#i3-a-python-default-beside-a-server-default: a Python default is
    sent in the INSERT (loaded everywhere); a SQL-expression default is what the server
    generates, exactly as without the server default beside it."""
    settings = Settings(backend=backend, sqlalchemy=version)  # type: ignore[arg-type]
    for eager, returning in itertools.product((None, True, False), (True, False)):
        both = _model("python-and-server-default", eager, returning)
        assert _audit(both, settings)[0] == audit.LOADED
        assert _check(both, settings, INSERT.format(given="")) == audit.LOADED
        sql_beside = _model("sql-and-server-default", eager, returning)
        sql_alone = _model("sql-default", eager, returning)
        assert _audit(sql_beside, settings)[0] == _audit(sql_alone, settings)[0]

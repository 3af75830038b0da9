"""The rules' documentation: one source for ``flushguard rule``, SARIF and the README.

Each rule says what it finds, why that crashes, an example and the fix. The README's
"Rules" section is :func:`markdown_section` verbatim (a test holds them together), so a
change here is a change there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    #: One line: the finding, as ``flushguard rule`` lists it.
    summary: str
    #: Markdown paragraphs, wrapped as the README shows them.
    what: str
    why: str
    #: Python source, without the fence.
    example: str
    fix: str


RULES: Tuple[Rule, ...] = (
    Rule(
        code="FG001",
        name="unloaded-column-after-flush",
        summary="a server-generated column read after a flush that did not fetch it",
        what="""\
A column attribute read after a flush that left it unloaded: a server-generated
value (`server_default`, `Computed`, `FetchedValue`, `default=func.now()`) after an INSERT on a backend
or configuration that does not fetch it (MySQL; SQLAlchemy 1.4; `eager_defaults=False`;
`implicit_returning=False`), a SQL `onupdate`/`server_onupdate`/`Computed` value or a column assigned
a SQL expression after an UPDATE, a `column_property`, a `deferred` column never given a value.""",
        why="""\
The attribute is expired; reading it makes SQLAlchemy load it with implicit I/O,
which `AsyncSession` cannot do outside `await`.""",
        example="""\
user = User(email=email)          # created_at: server_default=func.now()
session.add(user)
await session.flush()
return {"id": user.id, "created_at": user.created_at}   # MissingGreenlet on MySQL""",
        fix="""\
`await session.refresh(user, ["created_at"])` right after the flush (one narrow SELECT).""",
    ),
    Rule(
        code="FG002",
        name="unloaded-relationship-after-flush",
        summary="a relationship read after a flush, not loaded",
        what="""\
A relationship read (or a collection appended to or assigned) after a flush when it
was never loaded: a new object's collection that was not assigned before the flush (lazy strategies
such as `selectin` only apply to query loads), a loaded object's lazy relationship that its query did
not load. A many-to-one set only through its foreign key is *possible*: it is safe only when the
target happens to be in the session already.""",
        why="""\
Loading the relationship needs a SELECT, which cannot run implicitly.""",
        example="""\
order = Order(customer_id=customer_id)
session.add(order)
await session.flush()
for line in order.lines: ...      # MissingGreenlet""",
        fix="""\
`await session.refresh(order, ["lines"])` (SQLAlchemy 2.x); on 1.4, where `refresh` rejects
relationship names, a re-select:
`await session.execute(select(Order).where(Order.id == order.id).options(selectinload(Order.lines)))`.""",
    ),
    Rule(
        code="FG003",
        name="expired-after-commit",
        summary="an attribute read after commit/rollback/expire expired it",
        what="""\
Any attribute read after `commit()` (with `expire_on_commit=True`, the default),
after `rollback()`, or after `expire(obj)` / `expire_all()`, the primary key included.""",
        why="""\
Every attribute is expired; the next read would reload the row.""",
        example="""\
await session.commit()
return {"id": user.id}            # MissingGreenlet""",
        fix="""\
`await session.refresh(user, ["id"])` after the commit, or `expire_on_commit=False` on the
session factory.""",
    ),
    Rule(
        code="FG004",
        name="unloaded-object-escapes",
        summary=("an object leaves the function with unloaded or expired attributes that a "
                 "consumer (caller, response model, schema) reads"),
        what="""\
An object a function returns while a flush or commit left attributes unloaded, when a consumer
reads them: a caller anywhere in the project (plain calls, `self.service.method(...)`,
`Service(db).method(...)`, services injected with `Depends`), or a FastAPI route that returns it
through a `response_model`, a return annotation or `Schema.model_validate(obj)`; the schema's
fields, aliases, inheritance and nested schemas count. A helper that flushes the session it is
given (`await self._save(obj)`) is a flush for its caller. When no caller in the project can be
traced, the finding is *possible*.""",
        why="""\
The consumer reads the attribute outside the function, where nothing loads it
first; the read is implicit I/O, and the crash shows up in the caller or during serialization.""",
        example="""\
@router.put("/items/{item_id}", response_model=ItemOut)   # ItemOut has updated_at
async def update_item(item_id: int, data: ItemIn, db: AsyncSession = Depends(get_db)):
    item = await db.get(Item, item_id)
    item.name = data.name
    await db.commit()
    return item                   # MissingGreenlet while serializing updated_at""",
        fix="""\
Refresh before the object leaves: `await db.refresh(item, ["updated_at"])` after the
commit, naming what the consumers read.""",
    ),
)

BY_CODE: Dict[str, Rule] = {rule.code: rule for rule in RULES}


def markdown(rule: Rule) -> str:
    """The rule's documentation as a README subsection (what ``flushguard rule CODE`` prints)."""
    return (
        f"### {rule.code} {rule.name}\n\n"
        f"**What it finds.** {rule.what}\n\n"
        f"**Why it crashes.** {rule.why}\n\n"
        f"```python\n{rule.example}\n```\n\n"
        f"**Fix.** {rule.fix}\n"
    )


def markdown_section() -> str:
    """The README's whole "Rules" section, heading included."""
    return "## Rules\n\n" + "\n".join(markdown(rule) for rule in RULES)


def lookup(code: str) -> Rule | None:
    """The rule named by ``code`` (``FG001``, ``fg001``) or by its name, if any."""
    wanted = code.strip()
    return BY_CODE.get(wanted.upper()) or next((r for r in RULES if r.name == wanted.lower()), None)

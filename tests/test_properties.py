"""Property tests: whatever program flushguard is given, it never crashes, never writes what
does not parse, leaves alone what it has nothing to fix, reaches a fixed point in one run, and
its patch is exactly its fix.

Two kinds of programs. hypothesmith's (from Python's grammar, and from LibCST's node types)
are arbitrary Python, which almost never holds a flush site; so most programs here are woven:
a model module drawn from the column and relationship kinds the rules care about
(server_default, onupdate, Computed, deferred, column_property, Python defaults, collections,
many-to-ones), and a service module of async functions that create, load, add, flush, commit,
roll back, expire, refresh and read those models, in branches, loops, try blocks, `with`
blocks, `match` statements, nested functions and helper calls, with odd names, odd layouts
(tabs, two-space indents, semicolons, one-line blocks, CRLF, a BOM, no final newline) and
statements from hypothesmith woven in. Mutating a woven program (a character dropped,
doubled or inserted) gives input that often does not parse.

Profiles (registered in hypothesis_profiles.py): `ci`, the default, is small and
derandomized, so CI runs the same examples every time; `nightly` runs more than 10,000
generated programs with a fresh seed. Select one with FLUSHGUARD_HYPOTHESIS_PROFILE=nightly.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import keyword
import os
import re
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import hypothesmith
import libcst
import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from clikit import environment, flushguard, git, snapshot
from codemods import engine
from codemods.types import Settings
from hypothesis_profiles import PROFILE

# -- profiles ----------------------------------------------------------------------------------

#: Programs per test and profile. The nightly total is over 10,000.
EXAMPLES = {
    "ci": {"grammar": 25, "node": 5, "woven": 150, "mutated": 60, "cli": 12, "subprocess": 3,
           "audit": 10, "branch": 5},
    "nightly": {"grammar": 2_000, "node": 300, "woven": 10_000, "mutated": 2_000, "cli": 600,
                "subprocess": 100, "audit": 300, "branch": 100},
}[PROFILE]


def profile(kind: str) -> settings:
    return settings(settings.get_profile(PROFILE), max_examples=EXAMPLES[kind])


# -- the model module ------------------------------------------------------------------------

RESERVED = frozenset({"id", "metadata", "registry", "self", "session", "select", "func", "print",
                      "len", "range", "str", "int", "list", "dict", "None", "True", "False",
                      "log", "helper", "items", "rows", "data", "out", "value", "flushed"})
#: Identifiers that are legal but odd: soft keywords, non-ASCII, dunder-ish, one character.
ODD_NAMES = ("_", "match", "case", "type", "café", "π", "ñandú", "__x", "x_", "l1", "Ω", "_0")

plain_names = st.from_regex(r"[a-z][a-z0-9_]{0,7}", fullmatch=True)
names = st.one_of(plain_names, plain_names, st.sampled_from(ODD_NAMES)).filter(
    lambda n: n.isidentifier() and not keyword.iskeyword(n) and n not in RESERVED)
class_names = st.from_regex(r"[A-Z][A-Za-z0-9]{0,7}", fullmatch=True).filter(
    lambda n: n not in {"Base", "Mapped", "Column", "String", "Integer", "DateTime",
                        "ForeignKey", "Computed", "AsyncSession", "None", "True", "False"})

COLUMN_KINDS = ("plain", "server_default", "onupdate", "python_default", "computed", "deferred",
                "column_property", "nullable")


@dataclass
class Model:
    name: str
    table: str
    #: (attribute, kind)
    columns: List[Tuple[str, str]]
    #: (attribute, target model name, collection?, lazy strategy or None)
    relationships: List[Tuple[str, str, bool, Optional[str]]] = field(default_factory=list)
    #: The attribute holding the parent's key, for a child.
    foreign_key: Optional[Tuple[str, str]] = None

    @property
    def attributes(self) -> List[str]:
        return ["id"] + [c for c, _ in self.columns] + [r for r, *_ in self.relationships]


@st.composite
def models(draw) -> List[Model]:
    """A parent and a child (one-to-many and its many-to-one), sometimes a third model."""
    count = draw(st.integers(2, 3))
    class_list = draw(st.lists(class_names, min_size=count, max_size=count, unique=True))
    attrs = draw(st.lists(names, min_size=12, max_size=12, unique=True))
    result = []
    for number, name in enumerate(class_list):
        own = attrs[number * 4:number * 4 + 4]
        kinds = draw(st.lists(st.sampled_from(COLUMN_KINDS), min_size=len(own), max_size=len(own)))
        result.append(Model(name, f"t_{name.lower()}_{number}", list(zip(own[:3], kinds))))
    parent, child = result[0], result[1]
    lazy = draw(st.sampled_from([None, None, "selectin", "raise", "joined", "noload"]))
    parent.relationships.append((attrs[3], child.name, True, lazy))
    child.foreign_key = (attrs[7], f"{parent.table}.id")
    child.relationships.append((attrs[11], parent.name, False, None))
    return result


def render_models(spec: List[Model], mapped: bool, junk: Sequence[str]) -> str:
    """The models module, in the 2.0 style (`Mapped[...] = mapped_column(...)`) or the classic one
    (`Column(...)`), with ``junk`` statements between the classes."""
    lines = [
        "from datetime import datetime",
        "from typing import Optional",
        "",
        "from sqlalchemy import Column, Computed, DateTime, ForeignKey, Integer, String, func",
        "from sqlalchemy.orm import (DeclarativeBase, Mapped, column_property, declarative_base,",
        "                            deferred, mapped_column, relationship)",
        "",
    ]
    lines += (["", "class Base(DeclarativeBase):", "    pass", ""] if mapped
              else ["Base = declarative_base()", ""])
    for number, model in enumerate(spec):
        if number < len(junk):
            lines += ["", junk[number].rstrip("\r\n"), ""]
        lines += ["", f"class {model.name}(Base):", f'    __tablename__ = "{model.table}"', ""]
        lines.append("    id: Mapped[int] = mapped_column(primary_key=True)" if mapped
                     else "    id = Column(Integer, primary_key=True)")
        if model.foreign_key is not None:
            attr, target = model.foreign_key
            lines.append(f'    {attr}: Mapped[int] = mapped_column(ForeignKey("{target}"))' if mapped
                         else f'    {attr} = Column(Integer, ForeignKey("{target}"))')
        for attr, kind in model.columns:
            lines.append("    " + _column(attr, kind, mapped))
        for attr, target, collection, lazy in model.relationships:
            options = f', lazy="{lazy}"' if lazy else ""
            if mapped:
                annotation = f'list["{target}"]' if collection else f'"{target}"'
                lines.append(f"    {attr}: Mapped[{annotation}] = relationship({options.lstrip(', ')})")
            else:
                lines.append(f'    {attr} = relationship("{target}"{options})')
    return "\n".join(lines) + "\n"


def _column(attr: str, kind: str, mapped: bool) -> str:
    args = {
        "plain": ("str", "String(50)"),
        "nullable": ("Optional[str]", "String(50), nullable=True"),
        "server_default": ("datetime", "DateTime, server_default=func.now()"),
        "onupdate": ("Optional[datetime]", "DateTime, onupdate=func.now()"),
        "python_default": ("int", "Integer, default=0"),
        "computed": ("int", 'Integer, Computed("id * 2")'),
        "deferred": ("str", "String(50)"),
    }
    if kind == "column_property":
        return (f'{attr}: Mapped[str] = column_property(func.lower("x"))' if mapped
                else f'{attr} = column_property(func.lower("x"))')
    annotation, column = args[kind]
    if kind == "deferred":
        return (f"{attr}: Mapped[str] = mapped_column({column}, deferred=True)" if mapped
                else f"{attr} = deferred(Column({column}))")
    if mapped:
        return f"{attr}: Mapped[{annotation}] = mapped_column({column})"
    return f"{attr} = Column({column})"


# -- the service module ------------------------------------------------------------------------

#: Statements that are odd but legal anywhere a statement is.
ODD_STATEMENTS = (
    "pass", "...", '"""A docstring-like string: await session.flush() is only text."""',
    "x = 1; y = 2", "# a comment: session.commit()", "value = (\n    1 +\n    2\n)",
    "value = 1 + \\\n    2", "global counter", "assert True, 'never'", "import os.path as osp",
    "from os import *", "lambda: (yield)", "print(*[], **{})", "_ = [i async for i in aiter([])]",
    "raise NotImplementedError", "type = 1", "match = [1]", "case = {}", "__debug__",
    "f'{1!r:>{2}}'", "x = 'ü\\u2028ÿ'", "x = '\\x0c form feed \\x1c'", "b'\\x00'",
)


@dataclass
class Block:
    header: str
    body: List["Node"]
    #: Further clauses: (header, body), e.g. ("else:", [...]), ("except ValueError:", [...]).
    clauses: List[Tuple[str, List["Node"]]] = field(default_factory=list)


Node = Union[str, Block]


@dataclass
class Context:
    spec: List[Model]
    session: str
    objects: List[Tuple[str, Model]] = field(default_factory=list)
    lists: List[Tuple[str, Model]] = field(default_factory=list)
    loop_depth: int = 0


def _value(draw, model: Model, attr: str) -> str:
    return draw(st.sampled_from(['"x"', "1", "None", "func.now()", "datetime.now()", "value"]))


@st.composite
def _create(draw, ctx: Context) -> List[Node]:
    model = draw(st.sampled_from(ctx.spec))
    var = draw(names)
    given = draw(st.lists(st.sampled_from([c for c, _ in model.columns]), unique=True, max_size=3))
    args = [f"{attr}={_value(draw, model, attr)}" for attr in given]
    if model.foreign_key is not None and draw(st.booleans()):
        args.append(f"{model.foreign_key[0]}=1")
    for attr, target, collection, _ in model.relationships:
        others = [name for name, m in ctx.objects if m.name == target]
        if collection and draw(st.integers(0, 3)) == 0:
            args.append(f"{attr}=[]")
        elif others and draw(st.booleans()):
            args.append(f"{attr}={draw(st.sampled_from(others))}")
    out: List[Node] = [f"{var} = {model.name}({', '.join(args)})"]
    if draw(st.integers(0, 4)):
        out.append(f"{ctx.session}.add({var})")
    ctx.objects.append((var, model))
    return out


@st.composite
def _load(draw, ctx: Context) -> List[Node]:
    model = draw(st.sampled_from(ctx.spec))
    var = draw(names)
    s = ctx.session
    rel = [r for r, *_ in model.relationships]
    forms = [
        f"{var} = await {s}.get({model.name}, 1)",
        f"{var} = (await {s}.execute(select({model.name}).where({model.name}.id == 1))).scalar_one()",
        f"{var} = await {s}.scalar(select({model.name}))",
    ]
    if rel:
        forms.append(f"{var} = await {s}.scalar(select({model.name})"
                     f".options(selectinload({model.name}.{rel[0]})))")
    ctx.objects.append((var, model))
    if draw(st.integers(0, 5)) == 0:
        ctx.lists.append((var, model))
        return [f"{var} = (await {s}.scalars(select({model.name}))).all()"]
    return [draw(st.sampled_from(forms))]


def _site(draw, ctx: Context) -> List[Node]:
    s = ctx.session
    forms = [f"await {s}.flush()"] * 4 + [f"await {s}.commit()"] * 2 + [
        f"await {s}.rollback()", f"{s}.expire_all()"]
    if ctx.objects:
        var, _ = draw(st.sampled_from(ctx.objects))
        forms += [f"{s}.expire({var})", f"await {s}.flush([{var}])"]
    line = draw(st.sampled_from(forms))
    if draw(st.integers(0, 9)) == 0:
        line += draw(st.sampled_from(["  # noqa", "  # noqa: FG001", "  # flushguard: ignore",
                                      "  # a comment", "\t# tab"]))
    return [line]


def _pick(draw, ctx: Context) -> Tuple[str, Model, str]:
    var, model = draw(st.sampled_from(ctx.objects))
    return var, model, draw(st.sampled_from(model.attributes))


def _read(draw, ctx: Context) -> List[Node]:
    if not ctx.objects:
        return ["pass"]
    var, model, attr = _pick(draw, ctx)
    s = ctx.session
    read = f"{var}.{attr}"
    forms = [
        f"value = {read}", f"print({read})", f'log(f"{{{read}}} {{{var}.id!r:>4}}")',
        f"out = {{'key': {read}, 'id': {var}.id}}", f"assert {read} is not None",
        f"value = {read} if {var} else None", f"value = (\n    {read}\n)",
        f"values = [o.{attr} for o in [{var}]]", f"callback = lambda: {read}",
        f"await {s}.run_sync(lambda _: {read})", f"value = await {var}.awaitable_attrs.{attr}",
        f"data = Schema.model_validate({var})", f"data = jsonable_encoder({var})",
        f"await helper({s}, {var})", f"print(repr({var}))",
        f"value = {read}  # noqa: FG00{draw(st.integers(1, 4))}",
    ]
    for rel, target, collection, _ in model.relationships:
        if collection:
            others = [n for n, m in ctx.objects if m.name == target] or ["None"]
            forms += [f"{var}.{rel}.append({draw(st.sampled_from(others))})",
                      f"count = len({var}.{rel})", f"{var}.{rel} = []"]
    if ctx.lists:
        items, _ = draw(st.sampled_from(ctx.lists))
        forms.append(f"values = [row.{attr} for row in {items}]")
    return [draw(st.sampled_from(forms))]


def _write(draw, ctx: Context) -> List[Node]:
    if not ctx.objects:
        return ["pass"]
    var, model, attr = _pick(draw, ctx)
    return [draw(st.sampled_from([f"{var}.{attr} = 'y'", f"{var}.{attr} = func.now()",
                                  f"{var}.{attr} += 1", f"{var} = None", f"del {var}",
                                  f"{var}.{attr}, other = 1, 2"]))]


def _refresh(draw, ctx: Context) -> List[Node]:
    if not ctx.objects:
        return [f"await {ctx.session}.flush()"]
    var, model, attr = _pick(draw, ctx)
    s = ctx.session
    return [draw(st.sampled_from([f"await {s}.refresh({var})",
                                  f'await {s}.refresh({var}, ["{attr}"])',
                                  f'await {s}.refresh({var}, attribute_names=["{attr}"])']))]


def _return(draw, ctx: Context) -> List[Node]:
    if not ctx.objects:
        return ["return None"]
    var, model, attr = _pick(draw, ctx)
    return [draw(st.sampled_from([f"return {var}", f"return {var}.{attr}",
                                  f"return {{'id': {var}.id, 'value': {var}.{attr}}}",
                                  f"yield {var}", f"return [{var}]"]))]


#: One statement from Python's grammar (built once: building it reads the grammar).
GRAMMAR_STATEMENT = hypothesmith.from_grammar("single_input", auto_target=False)


def _flush_site(draw, ctx: Context) -> List[Node]:
    """The template every function is woven around: an object is created or loaded, added,
    flushed or committed, and read (often an attribute the site leaves unloaded), the read
    sometimes in a branch or a loop."""
    made = draw(_create(ctx)) if draw(st.integers(0, 3)) else draw(_load(ctx))
    var, model = ctx.objects[-1]
    if not any(line == f"{ctx.session}.add({var})" for line in made if isinstance(line, str)):
        made.append(f"{ctx.session}.add({var})")
    risky = [c for c, kind in model.columns if kind not in ("plain", "nullable", "python_default")]
    risky += [r for r, *_ in model.relationships]
    attr = draw(st.sampled_from(risky or model.attributes))
    read: Node = draw(st.sampled_from([f"value = {var}.{attr}", f"print({var}.{attr})",
                                       f"return {{'id': {var}.id, 'value': {var}.{attr}}}"]))
    if draw(st.integers(0, 3)) == 0:
        header = draw(st.sampled_from(["if flag:", "for _ in range(2):", "try:"]))
        read = Block(header, [read], [("except Exception:", ["raise"])] if header == "try:" else [])
    return made + _site(draw, ctx) + [read]


def _junk(draw) -> str:
    if draw(st.integers(0, 5)) == 0:
        snippet = draw(GRAMMAR_STATEMENT)
        return snippet if snippet.strip() else "pass"
    return draw(st.sampled_from(ODD_STATEMENTS))


def _body(draw, ctx: Context, depth: int, size: int) -> List[Node]:
    body: List[Node] = []
    for _ in range(size):
        body.extend(_statement(draw, ctx, depth))
    return body or ["pass"]


def _statement(draw, ctx: Context, depth: int) -> List[Node]:
    kinds = ["create", "create", "load", "site", "site", "site", "read", "read", "read", "read",
             "write", "refresh", "junk", "helper"]
    if depth < 2:
        kinds += ["if", "for", "while", "try", "with", "match", "def"]
    kind = draw(st.sampled_from(kinds))
    if draw(st.integers(0, 30)) == 0:
        kind = "return"
    s = ctx.session
    if kind == "create":
        return draw(_create(ctx))
    if kind == "load":
        return draw(_load(ctx))
    if kind == "site":
        return _site(draw, ctx)
    if kind == "read":
        return _read(draw, ctx)
    if kind == "write":
        return _write(draw, ctx)
    if kind == "refresh":
        return _refresh(draw, ctx)
    if kind == "return":
        return _return(draw, ctx)
    if kind == "junk":
        return [_junk(draw)]
    if kind == "helper":
        var = draw(st.sampled_from([v for v, _ in ctx.objects] or ["None"]))
        return [draw(st.sampled_from([f"await helper({s}, {var})", f"{var} = await make({s})",
                                      f"await self_save({s}, {var})", "await other()"]))]
    size = draw(st.integers(1, 3))
    if kind == "if":
        test = draw(st.sampled_from(["flag", "value is None", "await check()",
                                     *[f"{v}.{draw(st.sampled_from(m.attributes))}"
                                       for v, m in ctx.objects[-2:]]]))
        clauses = []
        if draw(st.booleans()):
            clauses.append(("elif other:", _body(draw, ctx, depth + 1, size)))
        if draw(st.booleans()):
            clauses.append(("else:", _body(draw, ctx, depth + 1, size)))
        return [Block(f"if {test}:", _body(draw, ctx, depth + 1, size), clauses)]
    if kind in ("for", "while"):
        ctx.loop_depth += 1
        if kind == "for":
            source = draw(st.sampled_from(["range(3)", *[f"{v}.{r}" for v, m in ctx.objects[-2:]
                                                        for r, _, c, _ in m.relationships if c],
                                           *[v for v, _ in ctx.lists]]))
            header = f"for {draw(names)} in {source}:"
        else:
            header = "while flag:"
        body = _body(draw, ctx, depth + 1, size)
        if draw(st.booleans()):
            body.append(draw(st.sampled_from(["break", "continue"])))
        ctx.loop_depth -= 1
        clauses = [("else:", _body(draw, ctx, depth + 1, 1))] if draw(st.integers(0, 4)) == 0 else []
        return [Block(header, body, clauses)]
    if kind == "try":
        clauses = [(draw(st.sampled_from(["except ValueError:", "except (KeyError, TypeError) as e:",
                                          "except Exception:", "except:"])),
                    _body(draw, ctx, depth + 1, size))]
        if draw(st.booleans()):
            clauses.append(("else:", _body(draw, ctx, depth + 1, 1)))
        if draw(st.booleans()):
            clauses.append(("finally:", _body(draw, ctx, depth + 1, 1)))
        return [Block("try:", _body(draw, ctx, depth + 1, size), clauses)]
    if kind == "with":
        header = draw(st.sampled_from([f"async with {s}.begin():", f"async with {s}.begin_nested():",
                                       "with open('f') as handle:", "async with lock:"]))
        return [Block(header, _body(draw, ctx, depth + 1, size))]
    if kind == "match":
        subject = (f"{ctx.objects[-1][0]}.{draw(st.sampled_from(ctx.objects[-1][1].attributes))}"
                   if ctx.objects else "value")
        return [Block(f"match {subject}:", [Block("case 1:", _body(draw, ctx, depth + 2, size)),
                                            Block("case _:", _body(draw, ctx, depth + 2, 1))])]
    # a nested function: it reads the state where it is defined
    inner = draw(st.sampled_from(["def", "async def"]))
    return [Block(f"{inner} {draw(names)}():", _body(draw, ctx, depth + 1, size))]


@dataclass(frozen=True)
class Layout:
    indent: str
    newline: str
    bom: bool
    final_newline: bool
    semicolons: bool
    one_line_blocks: bool
    blank_lines: bool
    trailing_spaces: bool


layouts = st.builds(
    Layout,
    indent=st.sampled_from(["    ", "    ", "  ", "\t", "        "]),
    newline=st.sampled_from(["\n", "\n", "\n", "\r\n"]),
    bom=st.integers(0, 9).map(lambda n: n == 0),
    final_newline=st.integers(0, 9).map(lambda n: n != 0),
    semicolons=st.integers(0, 4).map(lambda n: n == 0),
    one_line_blocks=st.integers(0, 4).map(lambda n: n == 0),
    blank_lines=st.booleans(),
    trailing_spaces=st.integers(0, 9).map(lambda n: n == 0),
)


def _simple(node: Node) -> bool:
    return isinstance(node, str) and "\n" not in node and not node.lstrip().startswith(
        ("#", "return", "yield", "break", "continue", "raise", "global"))


def render(nodes: Sequence[Node], layout: Layout, level: int = 0) -> List[str]:
    """Lines (without line endings) of ``nodes`` at indentation ``level``."""
    prefix = layout.indent * level
    lines: List[str] = []
    index = 0
    while index < len(nodes):
        node = nodes[index]
        if isinstance(node, Block):
            body = node.body
            if layout.one_line_blocks and len(body) == 1 and _simple(body[0]):
                lines.append(f"{prefix}{node.header} {body[0]}")
            else:
                lines.append(prefix + node.header)
                lines += render(body, layout, level + 1)
            for header, clause in node.clauses:
                lines.append(prefix + header)
                lines += render(clause, layout, level + 1)
        else:
            text = node
            following = nodes[index + 1] if index + 1 < len(nodes) else None
            if (layout.semicolons and following is not None and _simple(node)
                    and _simple(following) and not node.rstrip().endswith(":")
                    and "#" not in node):
                text = f"{node}; {following}"
                index += 1
            for number, line in enumerate(text.replace("\r\n", "\n").split("\n")):
                lines.append(prefix + line if line.strip() else line)
        if layout.blank_lines and index % 3 == 2:
            lines.append("")
        index += 1
    return lines


HELPERS = """\
async def helper(session, obj):
    session.add(obj)
    await session.flush()
    return obj


async def self_save(session, obj):
    await session.commit()


def sync_code(session, obj):
    session.flush()
    return obj.id
"""


@dataclass(frozen=True)
class Program:
    """A woven project: models, the service module's bytes, and the settings to read them."""

    models: str
    service: bytes
    settings: Settings

    def __repr__(self) -> str:  # what hypothesis prints for a failing example
        return (f"Program(settings={self.settings!r},\n--- models.py ---\n{self.models}"
                f"--- service.py ---\n{self.service.decode('utf-8', 'replace')})")


@st.composite
def woven(draw) -> Program:
    spec = draw(models())
    mapped = draw(st.booleans())
    model_junk = [_junk(draw) for _ in range(draw(st.integers(0, 2)))]
    models_text = render_models(spec, mapped, model_junk)
    layout = draw(layouts)
    names_used = ", ".join(m.name for m in spec)
    header = [
        "from sqlalchemy import func, select",
        "from sqlalchemy.ext.asyncio import AsyncSession",
        "from sqlalchemy.orm import selectinload",
        "",
        f"from app.models import {names_used}",
        "",
    ]
    nodes: List[Node] = []
    for _ in range(draw(st.integers(1, 3))):
        style = draw(st.sampled_from(["function", "function", "method", "route"]))
        model = draw(st.sampled_from(spec))
        param = draw(names)
        if style == "method":
            attr = draw(st.sampled_from(["db", "session", "_session", "_db"]))
            ctx = Context(spec, f"self.{attr}")
        else:
            ctx = Context(spec, draw(st.sampled_from(["session", "db", "session", "sess"])))
        if draw(st.booleans()):
            ctx.objects.append((param, model))
        body = _flush_site(draw, ctx)
        for statement in _body(draw, ctx, 0, draw(st.integers(1, 8))):
            body.insert(draw(st.integers(0, len(body))), statement)
        if draw(st.booleans()) and ctx.objects:
            body += _return(draw, ctx)
        name = draw(names)
        signature = f"({ctx.session}: AsyncSession, {param}: {model.name}, flag: bool = True)"
        if style == "method":
            nodes.append(Block(f"class {name.title().replace('_', '') or 'C'}Service:", [
                Block(f"def __init__(self, {ctx.session[5:]}: AsyncSession):",
                      [f"{ctx.session} = {ctx.session[5:]}"]),
                Block(f"async def {name}(self, {param}: {model.name}, flag: bool = True):", body),
            ]))
        elif style == "route":
            nodes.append(f'@router.post("/{name}", response_model=Out)')
            nodes.append(Block(f"async def {name}{signature}:", body))
        else:
            nodes.append(Block(f"async def {name}{signature}:", body))
        if draw(st.integers(0, 3)) == 0:
            nodes.append(_junk(draw))
    lines = header + HELPERS.splitlines() + [""] + render(nodes, layout)
    if layout.trailing_spaces:
        lines = [line + " " if line.strip() and not line.rstrip().endswith("\\") else line
                 for line in lines]
    text = layout.newline.join(lines) + (layout.newline if layout.final_newline else "")
    data = ("\ufeff" + text if layout.bom else text).encode("utf-8")
    project_settings = Settings(
        backend=draw(st.sampled_from(["mysql", "postgresql", "sqlite", "mariadb", "unknown"])),
        sqlalchemy=draw(st.sampled_from(["2", "2", "1.4"])),
        expire_on_commit=draw(st.sampled_from([True, True, False])),
        unsafe_fixes=draw(st.booleans()),
        refresh_keyword=draw(st.integers(0, 4).map(lambda n: n == 0)),
        jobs=1,
    )
    return Program(models_text, data, project_settings)


@st.composite
def mutated(draw) -> Program:
    """A woven program with a few characters dropped, doubled or inserted."""
    program = draw(woven())
    data = bytearray(program.service)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data) - 1))
        how = draw(st.sampled_from(["drop", "double", "insert"]))
        if how == "drop":
            del data[at]
        elif how == "double":
            data[at:at] = data[at:at + 1]
        else:
            data[at:at] = draw(st.sampled_from(
                [b"(", b")", b"[", b":", b"\n", b"\t", b" ", b"'", b'"', b"\\", b"\x00", b"\xff",
                 b"\r", b"#", b"async ", b"await ", b".flush()", "é".encode()]))
    return Program(program.models, bytes(data), program.settings)


# -- running the core ------------------------------------------------------------------------


@contextlib.contextmanager
def inside(folder: Path) -> Iterator[None]:
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def write_project(root: Path, program: Program) -> Path:
    (root / "app").mkdir(parents=True)
    (root / "app" / "__init__.py").write_text("")
    (root / "app" / "models.py").write_text(program.models)
    (root / "app" / "service.py").write_bytes(program.service)
    backend = program.settings.backend
    (root / "pyproject.toml").write_text(
        "[tool.flushguard]\n"
        f'backend = "{backend}"\n'
        f'sqlalchemy = "{program.settings.sqlalchemy}"\n'
        f"expire-on-commit = {str(program.settings.expire_on_commit).lower()}\n"
        f"unsafe-fixes = {str(program.settings.unsafe_fixes).lower()}\n"
        "jobs = 1\n")
    return root


def analyse(root: Path, program: Program, data: Optional[bytes] = None) -> engine.FileOutcome:
    """The engine's per-file steps on ``app/service.py`` (the model index built from the models
    module as the engine builds it), parsing it even when the byte prefilter would skip it: the
    analysis, then its edits applied."""
    path = root / "app" / "service.py"
    if data is not None:
        path.write_bytes(data)
    index = engine.build_index(root, [root / "app" / "models.py", path])
    return engine.with_fixes(engine.analyze_file(path, root, index, program.settings,
                                                 "app/service.py", require_sites=False))


#: The error messages a file may get: clean lines, never a crash.
CLEAN_ERRORS = ("cannot parse: ", "cannot decode as ", "cannot detect the encoding",
                "not a Python source file", "too deeply nested to analyse")


def check_outcome(outcome: engine.FileOutcome, program: Program) -> None:
    """What holds for any file: a clean error or a result; a change parses, is made of inserted
    lines (and, on SQLAlchemy 1.4, of imports), and happens exactly when a fix applies."""
    if outcome.error is not None:
        assert outcome.error.startswith(CLEAN_ERRORS), outcome.error
        assert outcome.new_data is None
        event("clean error")
        return
    applicable = [f for f in outcome.findings if f.fix is not None
                  and (f.fix.applicability == "safe" or program.settings.unsafe_fixes)]
    if not applicable:
        assert outcome.new_data is None, "changed with nothing to fix"
        event("nothing to fix" if not outcome.findings else "findings, none fixable")
        return
    assert outcome.new_data is not None, "fixable findings and no change"
    event("fixed")
    libcst.parse_module(outcome.new_text)
    old = outcome.old_text.splitlines(keepends=True)
    new = outcome.new_text.splitlines(keepends=True)
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag == "equal" or tag == "insert":
            continue
        # only an import may change (SQLAlchemy 1.4's re-select brings select and selectinload)
        assert program.settings.sqlalchemy == "1.4" and all(
            line.lstrip().startswith(("from ", "import ")) for line in old[i1:i2] + new[j1:j2]), \
            (tag, old[i1:i2], new[j1:j2])
    assert outcome.new_data.startswith(b"\xef\xbb\xbf") == outcome.original.startswith(b"\xef\xbb\xbf")
    if b"\r\n" in outcome.original and b"\n" not in outcome.original.replace(b"\r\n", b""):
        assert b"\n" not in outcome.new_data.replace(b"\r\n", b""), "line endings changed"


# -- the properties --------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # hypothesmith compiles odd code: SyntaxWarning
        yield


BLANK = Program("", b"", Settings(backend="mysql", jobs=1))


def _core_property(program: Program) -> None:
    with tempfile.TemporaryDirectory(prefix="flushguard-property-") as folder:
        root = write_project(Path(folder), program)
        outcome = analyse(root, program)
        check_outcome(outcome, program)
        if outcome.new_data is not None:
            again = analyse(root, program, outcome.new_data)
            assert again.error is None, again.error
            assert again.new_data is None, "a second fix changed the file:\n" + "".join(
                difflib.unified_diff(outcome.new_text.splitlines(True),
                                     again.new_text.splitlines(True)))


@profile("grammar")
@given(hypothesmith.from_grammar())
def test_any_program_from_the_grammar(source: str) -> None:
    _core_property(Program(BLANK.models, source.encode("utf-8", "surrogatepass"), BLANK.settings))


@profile("node")
@given(hypothesmith.from_node())
def test_any_program_from_libcst_nodes(source: str) -> None:
    _core_property(Program(BLANK.models, source.encode("utf-8", "surrogatepass"), BLANK.settings))


@profile("woven")
@given(woven())
def test_woven_flush_sites(program: Program) -> None:
    _core_property(program)


@profile("mutated")
@given(mutated())
def test_mutated_programs_are_read_or_refused_cleanly(program: Program) -> None:
    _core_property(program)


WOVEN_MODELS = """\
from sqlalchemy import Column, ForeignKey, Integer, String
from sqlalchemy.orm import declarative_base, relationship

Base = declarative_base()


class A(Base):
    __tablename__ = "t_a"

    id = Column(Integer, primary_key=True)
    a00 = relationship("X")


class X(Base):
    __tablename__ = "t_x"

    id = Column(Integer, primary_key=True)
    s0 = Column(Integer, ForeignKey("t_a.id"))
    v = relationship("A")
"""

JOIN_MODELS = """\
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "items"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
"""

JOIN_SERVICE = """\
from app.models import Item


async def rename(session, flag):
    if flag:
        pass
    else:
        item = Item(name="x")
        session.add(item)
        await session.flush()
        session.expire_all()
    try:
        session.expire_all(); print("expired")
    except Exception:
        print(item.name)
"""


def test_fixed_point_when_one_arm_reloads_what_the_other_expires() -> None:
    """Found by the woven programs. The first run refreshes after the first expire_all();
    the read in the handler is still unsafe, but only because of the second one (on a line
    of two statements, where no fix can go). The join of the handler's two entry states
    used to blame the first expire_all() too, so every run inserted the refresh again."""
    program = Program(JOIN_MODELS, JOIN_SERVICE.encode(), Settings(backend="mysql", jobs=1))
    with tempfile.TemporaryDirectory(prefix="flushguard-property-") as folder:
        root = write_project(Path(folder), program)
        first = analyse(root, program)
        assert first.new_text.count('await session.refresh(item, ["name"])') == 1
        second = analyse(root, program, first.new_data)
        assert second.new_data is None
        assert [(f.line, f.site.line, f.fix) for f in second.findings] == [(16, 14, None)]


def _run_core(models: str, service: str, **options) -> Tuple[engine.FileOutcome,
                                                              Optional[engine.FileOutcome]]:
    """The first run on ``service`` and, when it changed the file, the second."""
    program = Program(models, service.encode(), Settings(jobs=1, **options))
    with tempfile.TemporaryDirectory(prefix="flushguard-property-") as folder:
        root = write_project(Path(folder), program)
        first = analyse(root, program)
        second = analyse(root, program, first.new_data) if first.new_data else None
    return first, second


def test_a_finding_carries_the_fix_that_is_inserted() -> None:
    """Found by the mutated programs: a read caused by two sites, the first on a line of two
    statements (no fix can go there), the second on its own line. The refresh went after the
    second while the finding said it had no fix."""
    first, second = _run_core(JOIN_MODELS, """\
from app.models import Item


async def rename(session, flag, item: Item):
    await session.commit(); print("committed")
    if flag:
        await session.commit()
    return item.name
""", backend="mysql")
    (finding,) = first.findings
    assert finding.fix is not None and finding.fix.line == 7
    assert first.new_text.count('await session.refresh(item, ["name"])') == 1
    assert second is not None and second.new_data is None
    assert [(f.line, f.site.line, f.fix) for f in second.findings] == [(9, 5, None)]


RESELECT_MODELS = """\
from sqlalchemy import Column, ForeignKey, Integer, String
from sqlalchemy.orm import declarative_base, relationship

Base = declarative_base()


class Team(Base):
    __tablename__ = "teams"

    id = Column(Integer, primary_key=True)
    name = Column(String(50))
    members = relationship("Member")


class Member(Base):
    __tablename__ = "members"

    id = Column(Integer, primary_key=True)
    team_id = Column(Integer, ForeignKey("teams.id"))
"""


def test_sqlalchemy_14_reselect_after_a_commit_loads_the_key_it_filters_on() -> None:
    """Found by the woven programs: on SQLAlchemy 1.4 a relationship is loaded by a re-select
    `where(Team.id == team.id)`; after a commit that read of `team.id` is itself expired (and
    raises MissingGreenlet), and the next run inserted a refresh of `id` before it."""
    first, second = _run_core(RESELECT_MODELS, """\
from app.models import Team


async def rename(session, team: Team, name: str):
    team.name = name
    await session.commit()
    return len(team.members)
""", backend="postgresql", sqlalchemy="1.4")
    assert 'await session.refresh(team, ["id"])\n    await session.execute(select(Team).where(' \
        'Team.id == team.id).options(selectinload(Team.members)))\n' in first.new_text
    assert second is not None and second.new_data is None and second.findings == ()


def test_sqlalchemy_14_reselect_loop_is_a_fixed_point() -> None:
    """Found by the woven programs: objects held in a list are re-selected in a loop on
    SQLAlchemy 1.4; the next run did not take that loop for one that loads every element (as
    it does a loop of refreshes) and inserted a second one."""
    first, second = _run_core(RESELECT_MODELS, """\
from sqlalchemy import select

from app.models import Team


async def load(session):
    teams = (await session.scalars(select(Team))).all()
    await session.flush()
    return [len(team.members) for team in teams]
""", backend="postgresql", sqlalchemy="1.4")
    assert " in teams:\n        await session.execute(select(Team)" in first.new_text
    assert second is not None and second.new_data is None


def test_a_fix_keeps_the_blank_lines_libcst_would_drop() -> None:
    """Found by the woven programs: LibCST renders the blank lines before an indented comment
    that ends a file as nothing (`x = 1\\n\\n # c` comes back as `x = 1\\n # c`), so a fix
    anywhere in such a file deleted them."""
    source = """\
from app.models import Item


async def rename(session, item: Item):
    await session.commit()
    return item.name

 # the end"""
    assert libcst.parse_module(source).code != source  # LibCST's round trip, as of 1.9
    first, second = _run_core(JOIN_MODELS, source, backend="mysql")
    assert first.new_text == source.replace(
        "    await session.commit()\n",
        '    await session.commit()\n    await session.refresh(item, ["name"])\n')
    assert second is not None and second.new_data is None


def test_expiring_a_pending_object_is_no_site_for_it() -> None:
    """Found by the woven programs: `session.expire(obj)` of an object never flushed (which
    SQLAlchemy refuses) made it expired, and each run inserted another refresh of it (which
    SQLAlchemy would refuse too)."""
    first, second = _run_core(JOIN_MODELS, """\
from app.models import Item


async def make(session):
    item = Item()
    session.add(item)
    session.expire(item)
    session.expire_all()
    return item.name
""", backend="mysql")
    assert first.findings == () and first.new_data is None and second is None


def test_a_fix_for_a_possible_finding_takes_one_run() -> None:
    """Found by the woven programs. `a`'s many-to-one `v` is read after the second flush; on
    the path through the first flush, that flush is its site, on the path around it the
    second one is. The second flush used to pass `v` by as unloaded already (the join took
    the first path's word for it), so it was blamed only once the first one was refreshed,
    and the second run inserted another refresh (an unsafe fix: the finding is *possible*)."""
    first, second = _run_core(WOVEN_MODELS, """\
from app.models import A, X


async def load(session, flag, other):
    a = await session.get(X, 1)
    if flag:
        await session.flush()
        if flag:
            _ = A(a00=[])
        elif other:
            a = A(a00=[])
    elif other:
        return a
    await session.flush()
    value = a.v
""", backend="mysql", unsafe_fixes=True)
    (finding,) = first.findings
    assert finding.certainty == "possible" and finding.attributes == ("v",)
    assert first.new_text.count('await session.refresh(a, ["v"])') == 2
    assert '        await session.flush()\n        await session.refresh(a, ["v"])\n' \
        in first.new_text
    assert '    await session.flush()\n    await session.refresh(a, ["v"])\n    value = a.v' \
        in first.new_text
    assert second is not None and second.new_data is None and second.findings == ()


def test_a_relationship_the_query_did_not_load_is_fixed_after_every_flush_in_one_run() -> None:
    """Found by the woven programs (certain, as for a collection): `team.members` is not loaded
    by `get()`, and a flush is its site, the first flush on each path: the one in the branch,
    or, around it, the last one. The last one was blamed only after the first run refreshed
    after the one in the branch, so fixing took two runs."""
    first, second = _run_core(RESELECT_MODELS, """\
from app.models import Team


async def count(session, flag):
    team = await session.get(Team, 1)
    if flag:
        await session.flush()
    await session.flush()
    return len(team.members)
""", backend="postgresql")
    (finding,) = first.findings
    assert finding.certainty == "certain" and finding.attributes == ("members",)
    assert first.new_text.count('await session.refresh(team, ["members"])') == 2
    assert second is not None and second.new_data is None and second.findings == ()


def test_a_relationship_read_before_the_second_flush_still_gets_one_refresh() -> None:
    """The first flush since the query is the site of what the query did not load: on one
    path, a later flush adds no second site and no second refresh."""
    first, second = _run_core(RESELECT_MODELS, """\
from app.models import Team


async def count(session):
    team = await session.get(Team, 1)
    await session.flush()
    await session.flush()
    return len(team.members)
""", backend="postgresql")
    (finding,) = first.findings
    assert finding.site.line == 6
    assert first.new_text.count("await session.refresh(") == 1
    assert second is not None and second.new_data is None and second.findings == ()


DEFERRED_MODELS = """\
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Note(Base):
    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    body: Mapped[str] = mapped_column(String(500), deferred=True)
"""


def test_a_refreshed_deferred_column_stays_loaded_across_the_next_flush() -> None:
    """Found by the woven programs: `refresh(note, ["body"])` loads a deferred column, but the
    next flush took it for one the query had not undeferred and unloaded it again, so the
    second run inserted another refresh after that flush."""
    first, second = _run_core(DEFERRED_MODELS, """\
from app.models import Note


async def touch(session, flag):
    note = await session.get(Note, 1)
    await session.flush()
    if flag:
        await session.flush()
    return note.body
""", backend="postgresql")
    (finding,) = first.findings
    assert finding.site.line == 6 and finding.attributes == ("body",)
    assert first.new_text.count('await session.refresh(note, ["body"])') == 1
    assert second is not None and second.new_data is None and second.findings == ()


def test_a_select_does_not_reload_an_expired_deferred_column() -> None:
    """Found by the woven programs: a select of the model reloads what a rollback expired,
    but not a deferred column it does not select. It was taken to reload `body` too, so the
    flush after the join was no site for `body`, as it is on the path without the select (in
    the program found, a rollback in a `try` whose handler selects, the refresh after that
    flush came only in a second run)."""
    first, second = _run_core(DEFERRED_MODELS, """\
from sqlalchemy import select

from app.models import Note


async def touch(session, flag):
    note = await session.get(Note, 1)
    await session.rollback()
    if flag:
        other = await session.scalar(select(Note))
    await session.flush()
    return note.body
""", backend="sqlite", sqlalchemy="1.4")
    assert sorted((f.code, f.site.line) for f in first.findings) == [("FG001", 11), ("FG003", 8)]
    assert first.new_text.count('await session.refresh(note, ["body"])') == 2
    assert second is not None and second.new_data is None and second.findings == ()


def test_sqlalchemy_14_reselect_fix_refreshes_the_deferred_columns_it_does_not_select() -> None:
    """Found by the woven programs: on SQLAlchemy 1.4 a fix that needs a relationship is a
    re-select, which does not select deferred columns; the fix named only the primary key
    before it, so a deferred column read after the rollback still raised (and, once the
    analysis knew a select leaves deferred columns alone, the next run fixed it apart)."""
    models = RESELECT_MODELS.replace(
        "    name = Column(String(50))\n",
        "    name = Column(String(50))\n    notes = deferred(Column(String(500)))\n").replace(
        "from sqlalchemy.orm import declarative_base, relationship",
        "from sqlalchemy.orm import declarative_base, deferred, relationship")
    first, second = _run_core(models, """\
from app.models import Team


async def show(session):
    team = await session.get(Team, 1)
    await session.rollback()
    return team.notes, len(team.members)
""", backend="postgresql", sqlalchemy="1.4")
    assert '    await session.rollback()\n    await session.refresh(team, ["id", "notes"])\n' \
        '    await session.execute(select(Team).where(Team.id == team.id)' \
        '.options(selectinload(Team.members)))\n' in first.new_text, first.new_text
    assert second is not None and second.new_data is None and second.findings == ()


def test_a_plain_refresh_further_on_gets_no_fix_at_the_site() -> None:
    """Found by the woven programs: the first run refreshes `members` after the flush; then
    the plain `refresh(team)` in the branch expires it again, and the second run blamed the
    flush and inserted another refresh there, before the plain refresh that undoes it. Such
    a finding is reported without a fix (name the relationship in that refresh instead)."""
    first, second = _run_core(RESELECT_MODELS, """\
from app.models import Team


async def count(session, flag):
    team = await session.get(Team, 1)
    await session.flush()
    if flag:
        await session.refresh(team)
    return len(team.members)
""", backend="postgresql")
    assert first.new_text.count('await session.refresh(team, ["members"])') == 1
    assert second is not None and second.new_data is None
    (finding,) = second.findings
    assert finding.attributes == ("members",) and finding.fix is None
    assert "a plain `refresh()` after it expires" in finding.message


def test_a_fix_at_the_end_of_a_block_goes_before_a_fix_after_it() -> None:
    """Found by the nightly profile: `expire_all()` ends a `begin_nested()` block, whose end
    flushes. Both fixes go before the line after the block, the first at the block's
    indentation, the second after the block; they were inserted the other way round, and the
    fixed file would not parse ("internal error", nothing fixed)."""
    from clikit import MODELS

    first, second = _run_core(MODELS, """\
from app.models import User


async def register(session, other: User):
    user = User(email="x")
    session.add(user)
    async with session.begin_nested():
        session.expire_all()
    return other.email, user.created_at
""", backend="mysql")
    assert first.error is None, first.error
    assert first.new_text.endswith(
        "    async with session.begin_nested():\n"
        "        session.expire_all()\n"
        '        await session.refresh(other, ["email"])\n'
        '    await session.refresh(user, ["created_at"])\n'
        "    return other.email, user.created_at\n"), first.new_text
    assert second is not None and second.new_data is None


def test_the_patch_is_the_fix_when_a_string_holds_a_line_separator() -> None:
    """Found by the nightly profile: the patch cut lines where `str.splitlines` does (at
    U+2028, form feeds, \\x1c-\\x1e, \\x85), which Python and git do not, so a hunk
    whose context held one did not apply."""
    service = (
        "from app.models import Item\n\n\n"
        "async def rename(session, item: Item):\n"
        "    label = 'a\u2028b'  # \x0c \x1c \x85\n"
        "    await session.commit()\n"
        "    return item.name, label\n")
    _cli_property(Program(JOIN_MODELS, service.encode(), Settings(backend="mysql", jobs=1)),
                  _in_process)


def test_the_patch_is_the_fix_when_a_line_holds_a_lone_carriage_return() -> None:
    """Found by the nightly profile: the patch cut lines at a lone CR, where Python breaks
    lines and git does not, so the hunk's line counts were not git's and `git apply` called
    the patch corrupt."""
    service = (
        "from app.models import Item\r\n\r\n\r\n"
        "async def rename(session, item: Item):\r\n"
        "    await session.commit()\r\n"
        "    label = 1\r    other = 2\r\n"
        "    return item.name, label\r\n")
    _cli_property(Program(JOIN_MODELS, service.encode(), Settings(backend="mysql", jobs=1)),
                  _in_process)
    _cli_property(Program(JOIN_MODELS, service.replace("\r\n", "\n").encode(),
                          Settings(backend="mysql", jobs=1)), _in_process)


def test_a_refresh_loop_leaves_no_second_name_for_the_list() -> None:
    """Found by the nightly profile: after `for item in items: await S.refresh(item, ...)` the
    element name stayed bound to the list itself, so joining the handler's path (where the
    list is expired and `items` rebound) expired the list on the refreshed path too, and the
    next run inserted a second loop."""
    first, second = _run_core(JOIN_MODELS, """\
from sqlalchemy import select

from app.models import Item


async def load(session, flag):
    items = (await session.scalars(select(Item))).all()
    if flag:
        try:
            await session.commit()  # noqa: FG001
        except ValueError:
            await session.commit()
            items = None
    return [item.name for item in items]
""", backend="mysql")
    assert first.new_text.count("await session.refresh(") == 1
    assert second is not None and second.new_data is None


def test_a_file_with_findings_must_parse_whole() -> None:
    """Found by the mutated programs: only the functions that can hold a finding are parsed
    (the rest are stubs), so a syntax error elsewhere went unseen; the findings were reported
    and `fix` refused its own output as "internal error". A file reported on must parse."""
    first, second = _run_core(JOIN_MODELS, """\
from app.models import Item


def broken(x)
    return x


async def rename(session, item: Item):
    await session.commit()
    return item.name
""", backend="mysql")
    assert first.error is not None and first.error.startswith("cannot parse: "), first.error
    assert first.findings == () and first.new_data is None and second is None


def test_the_woven_programs_exercise_the_fixes() -> None:
    """The strategy is worth its name: most woven programs parse, hold a site, have findings,
    and many are fixed (counted over the CI profile's examples)."""
    seen: Dict[str, int] = {"programs": 0, "parsed": 0, "sites": 0, "findings": 0, "fixed": 0}

    @settings(settings.get_profile("ci"), max_examples=60)
    @given(woven())
    def count(program: Program) -> None:
        with tempfile.TemporaryDirectory(prefix="flushguard-property-") as folder:
            root = write_project(Path(folder), program)
            outcome = analyse(root, program)
        seen["programs"] += 1
        seen["parsed"] += outcome.error is None
        seen["sites"] += bool(outcome.sites)
        seen["findings"] += bool(outcome.findings)
        seen["fixed"] += outcome.new_data is not None

    count()
    total = seen["programs"]
    assert total >= 50, seen
    assert seen["parsed"] >= 0.8 * total, seen
    assert seen["sites"] >= 0.7 * total, seen
    assert seen["findings"] >= 0.4 * total, seen
    assert seen["fixed"] >= 0.25 * total, seen


# -- the command line: exit codes, error lines, the patch is the fix -------------------------


def _tree(root: Path) -> Dict[str, bytes]:
    """The project's files, without git's folder and flushguard's cache."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.relative_to(root).parts[0].startswith(".")}


def _git_apply(patch: bytes, folder: Path) -> None:
    done = subprocess.run(["git", "apply", "--whitespace=nowarn", "-"], input=patch, cwd=folder,
                          capture_output=True, env=environment())
    assert done.returncode == 0, done.stderr.decode(errors="replace") + "\n" + patch.decode(
        errors="replace")


def _cli_property(program: Program, run: Callable[[Sequence[str], Path], Tuple[int, bytes, str]]
                  ) -> None:
    with tempfile.TemporaryDirectory(prefix="flushguard-cli-") as folder:
        project = write_project(Path(folder) / "p", program)
        copy = Path(folder) / "copy"
        shutil.copytree(project, copy)
        before = _tree(project)

        status, patch, stderr = run(["diff", "--color", "never"], project)
        assert status in (0, 1, 2), stderr
        assert "Traceback" not in stderr, stderr
        errors = [line for line in stderr.splitlines() if ": error: " in line]
        if status == 2:
            assert errors and all(line.startswith("app/") for line in errors), stderr
        assert _tree(project) == before, "diff wrote a file"
        assert (status == 1) == bool(patch) or status == 2, (status, patch)

        status_fix, _, stderr_fix = run(["fix"], project)
        assert status_fix in (0, 1, 2) and "Traceback" not in stderr_fix, stderr_fix
        assert (status_fix == 2) == (status == 2), (stderr, stderr_fix)
        if patch:
            _git_apply(patch, copy)
        assert _tree(project) == _tree(copy), "the patch is not the fix"
        if not patch:
            assert _tree(project) == before
        with contextlib.suppress(InvalidArgument):  # outside a @given test there is no event
            event(f"exit {status}")


def _in_process(args: Sequence[str], cwd: Path) -> Tuple[int, bytes, str]:
    from click.testing import CliRunner

    from codemods.cli import main

    with inside(cwd):
        result = CliRunner().invoke(main, [*args, "--jobs", "1"])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout_bytes, result.stderr


def _subprocess(args: Sequence[str], cwd: Path) -> Tuple[int, bytes, str]:
    done = flushguard(*args, cwd=cwd, binary=True)
    return done.returncode, done.stdout, done.stderr.decode("utf-8", "replace")


@profile("cli")
@given(st.one_of(woven(), woven(), mutated()))
def test_the_patch_is_the_fix_in_process(program: Program) -> None:
    _cli_property(program, _in_process)


@profile("subprocess")
@given(st.one_of(woven(), mutated()))
def test_the_patch_is_the_fix_console_script(program: Program) -> None:
    _cli_property(program, _subprocess)


# -- audit: its sites are the analysis' sites, its findings are check's -----------------------

#: What the text of a site's line holds, by kind, when the site is a call of the session's own
#: method (an `async with session.begin():` block commits or rolls back, and a
#: `begin_nested()` block flushes, where it starts).
SITE_CALLS = {"flush": (".flush(", ".begin_nested("), "commit": (".commit(", ".begin("),
              "rollback": (".rollback(", ".begin(", ".begin_nested("),
              "expire": (".expire(", ".expire_all(")}


def _source_lines(data: bytes) -> List[str]:
    """The file's lines as Python numbers them (a BOM, CRLF and a lone CR as line breaks)."""
    text = data.decode("utf-8", "replace").lstrip("\ufeff")
    return re.split(r"\r\n|\r|\n", text)


def _audit_property(program: Program, run: Callable[[Sequence[str], Path], Tuple[int, bytes, str]]
                    ) -> None:
    from codemods.options import load_options

    with tempfile.TemporaryDirectory(prefix="flushguard-audit-") as folder:
        project = write_project(Path(folder) / "p", program)
        before = _tree(project)

        status, out, stderr = run(["audit", "--format", "json"], project)
        assert status in (0, 2), stderr
        assert "Traceback" not in stderr, stderr
        assert _tree(project) == before, "audit wrote a file"
        document = json.loads(out)
        assert document["version"] == 1

        status_check, checked, stderr_check = run(["check", "--format", "json"], project)
        assert status_check in (0, 1, 2) and "Traceback" not in stderr_check, stderr_check
        assert (status == 2) == (status_check == 2), (stderr, stderr_check)
        check_document = json.loads(checked)

        # The sites are exactly those of check's analysis: none dropped, none made up (a site
        # rebuilt from a finding the analysis did not report would show here), none twice.
        result = engine.run(load_options([project], {"jobs": 1}, cwd=project, cache=False))
        analysed = sorted((s.path, s.line, s.kind) for o in result.outcomes for s in o.sites)
        listed = sorted((s["path"], s["line"], s["kind"]) for s in document["sites"])
        assert listed == analysed
        summary = document["summary"]
        assert summary["sites"] == len(listed)
        assert summary["by_kind"] == {kind: sum(1 for s in listed if s[2] == kind)
                                      for kind in SITE_CALLS}
        assert summary["findings"] == len(check_document["findings"])

        # Every site is a flush/commit/rollback/expire call on its line, or a call of the
        # helper that does it for the caller.
        sources = {path.relative_to(project).as_posix(): _source_lines(data)
                   for path, data in ((p, p.read_bytes()) for p in project.rglob("*.py"))}
        for site in document["sites"]:
            assert site["kind"] in SITE_CALLS, site
            text = sources[site["path"]][site["line"] - 1]
            calls = ((site["via"].rpartition(".")[2] + "(",) if site["via"]
                     else SITE_CALLS[site["kind"]])
            assert any(call in text for call in calls), (site, text)

        # Its findings are check's, each under the site that causes it.
        key = lambda f: json.dumps(f, sort_keys=True)  # noqa: E731
        listed_findings = [f for s in document["sites"] for f in s["findings"]]
        assert sorted(map(key, listed_findings)) == sorted(map(key, check_document["findings"]))
        for site in document["sites"]:
            assert (site["category"] in ("unsafe", "possible")) == bool(site["findings"]), site
            for finding in site["findings"]:
                assert (finding["path"], finding["site"]["line"], finding["site"]["kind"]) == (
                    site["path"], site["line"], site["kind"])
        with contextlib.suppress(InvalidArgument):
            event(f"{min(len(listed), 5)}{'+' if len(listed) >= 5 else ''} sites")


def test_a_site_is_unsafe_by_its_own_findings_not_its_line() -> None:
    """Found by the audit property: a helper that flushes and a commit on one line are two
    sites; the commit's finding made the helper's site `unsafe` too (categories went by line),
    an unsafe site that listed no finding."""
    program = Program(JOIN_MODELS, """\
from app.models import Item


async def helper(session, obj):
    await session.flush()


async def rename(session, item: Item):
    await helper(session, item); await session.commit()
    return item.name
""".encode(), Settings(backend="mysql", jobs=1))
    with tempfile.TemporaryDirectory(prefix="flushguard-audit-") as folder:
        project = write_project(Path(folder) / "p", program)
        status, out, stderr = _in_process(["audit", "--format", "json"], project)
        assert status == 0, stderr
        sites = {(s["line"], s["kind"]): s for s in json.loads(out)["sites"]}
        commit, call = sites[(9, "commit")], sites[(9, "flush")]
        assert commit["category"] == "unsafe" and len(commit["findings"]) == 1
        assert call["via"] == "app.service.helper" and call["findings"] == []
        assert call["category"] != "unsafe"
        _audit_property(program, _in_process)


@profile("audit")
@given(st.one_of(woven(), woven(), mutated()))
def test_the_audit_lists_the_sites_of_the_analysis_in_process(program: Program) -> None:
    _audit_property(program, _in_process)


@profile("subprocess")
@given(woven())
def test_the_audit_lists_the_sites_of_the_analysis_console_script(program: Program) -> None:
    _audit_property(program, _subprocess)


# -- branch: the branch is the fix, and nothing else of the repository changes ---------------

BRANCH = "flushguard/refresh-after-flush"


def _repository_state(repo: Path) -> Dict[str, object]:
    """What branch must leave byte for byte: the working tree (bytes, mode, mtime), the index,
    HEAD, every ref, the status (read without refreshing the index)."""
    gitdir = repo / ".git"
    index = (gitdir / "index").read_bytes()  # first: nothing below may refresh it
    return {
        "files": snapshot(repo),
        "index": index,
        "HEAD": (gitdir / "HEAD").read_bytes(),
        "refs": git("--no-optional-locks", "for-each-ref",
                    "--format=%(refname) %(objectname) %(symref)", cwd=repo),
        "packed-refs": ((gitdir / "packed-refs").read_bytes()
                        if (gitdir / "packed-refs").exists() else None),
        "status": git("--no-optional-locks", "status", "--porcelain=v2", "--untracked-files=all",
                      cwd=repo),
        "config": (gitdir / "config").read_bytes(),
    }


def _committed_tree(repo: Path, revision: str) -> Dict[str, bytes]:
    """Every file of ``revision``: its path and bytes."""
    listing = subprocess.run(["git", "ls-tree", "-r", "-z", "--full-tree", revision], cwd=repo,
                             capture_output=True, env=environment(), check=True).stdout
    tree = {}
    for entry in listing.split(b"\0"):
        if not entry:
            continue
        meta, path = entry.split(b"\t", 1)
        mode, kind, blob = meta.split()
        assert kind == b"blob", entry
        tree[path.decode()] = subprocess.run(["git", "cat-file", "blob", blob.decode()], cwd=repo,
                                             capture_output=True, env=environment(),
                                             check=True).stdout
    return tree


def _branch_property(program: Program) -> None:
    with tempfile.TemporaryDirectory(prefix="flushguard-branch-") as folder:
        repo = write_project(Path(folder) / "repo", program)
        fixed = Path(folder) / "fixed"
        shutil.copytree(repo, fixed)
        git("init", "-q", "-b", "main", cwd=repo)
        git("add", ".", cwd=repo)
        git("commit", "-q", "-m", "base", cwd=repo)
        base = git("rev-parse", "HEAD", cwd=repo).strip()
        base_tree = _committed_tree(repo, base)
        assert base_tree == _tree(fixed)

        status_fix, _, stderr_fix = _in_process(["fix"], fixed)
        assert status_fix in (0, 1, 2) and "Traceback" not in stderr_fix, stderr_fix
        expected = _tree(fixed)

        # A dirty working tree, a staged change and an untracked file: branch reads the base
        # revision, never these, and leaves them as they are.
        service = repo / "app" / "service.py"
        service.write_bytes(service.read_bytes() + b"\nasync def edited(session): await session.commit()\n")
        (repo / "app" / "__init__.py").write_text("# staged\n")
        git("add", "app/__init__.py", cwd=repo)
        (repo / "notes.txt").write_text("untracked\n")

        before = _repository_state(repo)
        status, out, stderr = _subprocess(["branch"], repo)
        assert status in (0, 1, 2) and "Traceback" not in stderr, stderr
        assert (status == 2) == (status_fix == 2), (stderr, stderr_fix)
        after = _repository_state(repo)
        made = git("--no-optional-locks", "for-each-ref", "--format=%(objectname)",
                   f"refs/heads/{BRANCH}", cwd=repo).strip()
        if expected == base_tree:
            # Nothing to fix: no branch, no commit, nothing changed at all.
            assert made == "", out
            assert after == before
            event("nothing to fix: no branch")
        else:
            assert made, (status, out, stderr)
            assert out.decode().splitlines()[:2] == [f"branch: {BRANCH}", f"commit: {made}"]
            assert git("rev-parse", f"{made}^@", cwd=repo).split() == [base]
            assert _committed_tree(repo, made) == expected, "the branch is not the fix"
            # The new branch is the only difference.
            assert sorted(str(after["refs"]).splitlines()) == sorted(
                [*str(before["refs"]).splitlines(), f"refs/heads/{BRANCH} {made} "])
            assert {k: v for k, v in after.items() if k != "refs"} == \
                {k: v for k, v in before.items() if k != "refs"}
            event("branch created")
        fsck = subprocess.run(["git", "fsck", "--strict", "--no-progress", "--no-dangling"],
                              cwd=repo, capture_output=True, env=environment())
        assert fsck.returncode == 0 and not fsck.stdout and not fsck.stderr, fsck


@profile("branch")
@given(woven())
@example(Program(JOIN_MODELS, b"""\
from app.models import Item


async def rename(session, item: Item, name):
    item.name = name
    await session.commit()
    return item.name
""", Settings(backend="mysql", jobs=1)))
def test_the_branch_is_the_fix_and_nothing_else_changes(program: Program) -> None:
    _branch_property(program)

"""The IR: one representation whichever parser read the source, with the file's own positions.

The analysis reads only the IR (`codemods.analysis.ir`). Lowered from the running Python's
`ast` or from LibCST's tree converted (`codemods.frontend.from_cst`, for syntax newer than
the interpreter), a module's IR must be the same, function bodies included; a body lowered
on demand from the function's own lines must equal the body lowered from the whole module;
columns count characters; a statement is insertable exactly where LibCST would put a
statement after it; and the layout a fix is written in is the one LibCST detects.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, Iterator, List

import libcst
import pytest
from hypothesis import given, settings, strategies as st
import hypothesmith

from codemods.analysis import ir
from codemods.analysis.fixes import file_layout
from codemods.analysis.lower import Bodies, _Lowering, lower_module
from codemods.frontend.from_cst import convert_source

ROOT = Path(__file__).resolve().parent.parent
CORPUS = sorted(p for folder in ("snapshots", "tests/fixtures", "examples", "codemods")
                for p in (ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts)


def _everything(tree: ast.Module, source: str):
    """A module's IR with every function's body, lowered on demand from its own lines."""
    module = lower_module(tree, source)
    bodies = Bodies(source)
    return module, {f.qualname: bodies.of(f) for f in module.defs}


def _whole_bodies(tree: ast.Module, source: str) -> Dict[int, ir.Block]:
    """Each function's body lowered from the whole module's tree, by its ``def`` line."""
    lowering = _Lowering(source)
    return {node.lineno: lowering.block(node.body) for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: str(p.relative_to(ROOT)))
def test_both_front_ends_give_the_same_ir(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    from_ast = _everything(ast.parse(source), source)
    converted = convert_source(source)
    assert converted is not None
    assert _everything(converted, source) == from_ast


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_body_lowered_alone_equals_the_body_lowered_with_its_module(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    module, bodies = _everything(tree, source)
    whole = _whole_bodies(tree, source)
    assert {f.line: bodies[f.qualname] for f in module.defs} == whole


@settings(max_examples=60, deadline=None)
@given(hypothesmith.from_grammar(auto_target=False))
def test_generated_programs_give_the_same_ir_from_both_front_ends(source: str) -> None:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return
    converted = convert_source(source)
    if converted is None:  # LibCST cannot read every program the interpreter can
        return
    from_ast = _everything(tree, source)
    assert _everything(converted, source) == from_ast
    assert {f.line: b for f, b in zip(from_ast[0].defs, from_ast[1].values())} == \
        _whole_bodies(tree, source)


NON_ASCII = '''\
async def rename(session, café, naïve):
    café.ünïcode = "é" + naïve.name
    await session.flush()
    return f"{café.prénom} — {naïve.nom}"
'''


def test_columns_count_characters_not_bytes() -> None:
    module, bodies = _everything(ast.parse(NON_ASCII), NON_ASCII)
    (function,) = module.defs
    positions: List[tuple] = []

    def visit(node: object) -> None:
        if isinstance(node, (ir.Name, ir.Attribute)):
            positions.append((node.line, node.col, getattr(node, "text", None) or node.id))
        for child in getattr(node, "__slots__", ()):
            value = getattr(node, child)
            for item in value if isinstance(value, tuple) else (value,):
                if hasattr(item, "__slots__"):
                    visit(item)

    visit(bodies[function.qualname])
    lines = NON_ASCII.splitlines()
    for line, col, text in positions:
        assert lines[line - 1][col - 1:].startswith(text.split(".")[0]), (line, col, text)
    assert (4, 15, "café.prénom") in positions


SIMPLE = (ir.ExprStmt, ir.Assign, ir.AnnAssign, ir.AugAssign, ir.Return, ir.Raise, ir.Continue,
          ir.Break, ir.Delete, ir.Assert)


def _libcst_insertable(source: str) -> Dict[tuple, bool]:
    """Per (line, simple statement or not): does LibCST see a statement alone on its line in
    an indented block (where a fix's statement can follow it)? Missing: it does not."""
    from libcst.metadata import MetadataWrapper, PositionProvider

    wrapper = MetadataWrapper(libcst.parse_module(source))
    positions = wrapper.resolve(PositionProvider)
    found: Dict[int, bool] = {}

    class Visitor(libcst.CSTVisitor):
        def visit_IndentedBlock(self, node: libcst.IndentedBlock) -> None:
            for stmt in node.body:
                line = positions[stmt].start.line
                simple = isinstance(stmt, libcst.SimpleStatementLine)
                found[(line, simple)] = not simple or len(stmt.body) == 1

    wrapper.visit(Visitor())
    return found


def _ir_statements(block: ir.Block) -> Iterator[ir.Stmt]:
    for stmt in block.statements:
        yield stmt
        for name in ("body", "orelse", "finalbody"):
            inner = getattr(stmt, name, None)
            if isinstance(inner, ir.Block):
                yield from _ir_statements(inner)
        for inner in getattr(stmt, "handlers", ()) + getattr(stmt, "cases", ()):
            yield from _ir_statements(inner)


@pytest.mark.parametrize("path", [p for p in CORPUS if "snapshots" in p.parts],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_insertable_statements_are_where_libcst_can_insert(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    module, bodies = _everything(ast.parse(source), source)
    expected = _libcst_insertable(source)
    checked = 0
    for block in bodies.values():
        for stmt in _ir_statements(block):
            if isinstance(stmt, ir.Skipped):
                continue
            key = (stmt.line, isinstance(stmt, SIMPLE))
            assert stmt.insertable == expected.get(key, False), (path, stmt)
            checked += 1
    assert checked or not module.defs


@pytest.mark.parametrize("source", [
    "async def f(s):\n    if s: await s.flush()\n    a = 1; b = 2\n    await s.flush()\n",
    "async def f(s):\n  await s.flush()  # two spaces\n  x = 1; y = 2\n  await s.flush()\n",
    "class A:\n\tasync def f(self):\n\t\tawait self.s.flush()\n",
])
def test_odd_layouts(source: str) -> None:
    module, bodies = _everything(ast.parse(source), source)
    expected = _libcst_insertable(source)
    checked = 0
    for block in bodies.values():
        for stmt in _ir_statements(block):
            assert stmt.insertable == expected.get((stmt.line, isinstance(stmt, SIMPLE)), False), stmt
            checked += 1
    assert checked


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_layout_of_fixes_is_the_one_libcst_detects(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    module = libcst.parse_module(source)
    assert file_layout(source) == (module.default_indent, module.default_newline)


@given(st.sampled_from(["\n", "\r\n", "\r"]), st.sampled_from(["    ", "  ", "\t"]))
def test_the_layout_follows_the_file(newline: str, indent: str) -> None:
    source = f"x = 1{newline}def f():{newline}{indent}return 1{newline}"
    module = libcst.parse_module(source)
    assert file_layout(source) == (module.default_indent, module.default_newline) == (indent, newline)

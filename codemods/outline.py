"""The parts of a module that can matter, with the rest reduced to stubs.

Parsing is most of what flushguard costs, and in a large module few functions can
hold anything to find.  :func:`outline` keeps the module's statements, imports and
the functions a caller asks for, and replaces every other ``def`` and ``class`` by a
one-line stub of the same name (``def name(): ...``) followed by blank lines, so the
outline has the same line numbers as the module and parses far faster.

The blocks are found by a scan of the text, not by a parser: strings, comments,
brackets and backslash continuations are followed so that only real statement starts
delimit blocks.  When the scan is unsure (odd indentation, an unterminated string)
it gives up and the caller parses the whole module; :func:`verify` checks the parsed
outline against the scan, so a wrong scan costs a parse, never a missed function.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

#: Strings (any prefix, triple or single quoted), comments, brackets and backslash
#: continuations: everything that decides where a statement starts.
_TOKENS = re.compile(
    r"""
      (?P<comment>\#[^\r\n]*)
    | (?P<string>
        [A-Za-z]{0,2}
        (?: \"\"\" (?: [^"\\] | \\. | "(?!"") )* (?: \"\"\" | \Z )
          | ''' (?: [^'\\] | \\. | '(?!'') )* (?: ''' | \Z )
          | " (?: [^"\\\r\n] | \\. )* (?: " | (?=[\r\n]) | \Z )
          | ' (?: [^'\\\r\n] | \\. )* (?: ' | (?=[\r\n]) | \Z )
        )
      )
    | (?P<open>[(\[{])
    | (?P<close>[)\]}])
    | (?P<continuation>\\\r?\n)
    """,
    re.VERBOSE | re.DOTALL,
)
_HEADER = re.compile(r"[ \t]*(?:(?P<async>async)[ \t]+)?(?P<kind>def|class)[ \t]+(?P<name>\w+)")
_DECORATOR = re.compile(r"[ \t]*@")


@dataclass(frozen=True)
class Block:
    """A ``def`` or ``class`` statement: its lines ``[start, end)`` (decorators included)."""

    kind: str  # "def" or "class"
    name: str
    start: int
    header: int
    end: int
    indent: str
    children: Tuple["Block", ...] = ()


def _line_starts(text: str) -> List[int]:
    starts = [0]
    for match in re.finditer(r"\r\n|\r|\n", text):
        starts.append(match.end())
    if starts[-1] == len(text) and len(starts) > 1:
        starts.pop()
    return starts


def split_lines(text: str) -> List[str]:
    """The lines of ``text`` with their endings, split where Python splits them."""
    starts = _line_starts(text)
    return [text[a:b] for a, b in zip(starts, starts[1:] + [len(text)])] if text else []


def statement_starts(text: str, starts: Sequence[int]) -> Optional[List[bool]]:
    """For each line: does a statement start on it?  None when the scan is unsure."""
    inside = [False] * len(starts)  # the line begins inside a string, brackets or a continuation
    depth = 0
    for match in _TOKENS.finditer(text):
        kind = match.lastgroup
        if kind == "open":
            if depth == 0:
                first = bisect.bisect_right(starts, match.start())
            depth += 1
            continue
        if kind == "close":
            if depth == 0:
                return None
            depth -= 1
            if depth == 0:
                last = bisect.bisect_right(starts, match.start())
                for line in range(first, last):
                    inside[line] = True
            continue
        if kind == "comment":
            continue
        if kind == "continuation":  # the next line goes on with this statement
            following = bisect.bisect_right(starts, match.end() - 1)
            if following < len(inside):
                inside[following] = True
            continue
        if kind == "string":
            if match.end() == len(text) and not re.search(r"(\"\"\"|'''|\"|')$", match.group()):
                return None  # unterminated
        first_line = bisect.bisect_right(starts, match.start())
        last_line = bisect.bisect_right(starts, max(match.start(), match.end() - 1))
        for line in range(first_line, last_line):
            inside[line] = True
    if depth:
        return None
    return [not flag for flag in inside]


def _indent_width(indent: str) -> int:
    return len(indent.expandtabs(8))


def _scan(text: str) -> Optional[Tuple[List[str], List[Tuple[int, str]]]]:
    """The module's lines and, for each statement, its first line and indentation."""
    lines = split_lines(text)
    begins = statement_starts(text, _line_starts(text)) if text else []
    if begins is None:
        return None
    statements: List[Tuple[int, str]] = []
    for number, line in enumerate(lines):
        if not begins[number]:
            continue
        stripped = line.lstrip(" \t\f")
        if not stripped.strip() or stripped.startswith("#"):
            continue
        statements.append((number, line[: len(line) - len(stripped)]))
    return lines, statements


def blocks(text: str) -> Optional[Tuple[List[str], Tuple[Block, ...]]]:
    """The module's lines and its top-level ``def``/``class`` blocks (with the blocks of
    each top-level class's body), or None when the scan is unsure."""
    scanned = _scan(text)
    if scanned is None:
        return None
    lines, statements = scanned
    return lines, _blocks_at(lines, statements, 0, len(statements), "", nested=True)


def _blocks_at(lines: Sequence[str], statements: Sequence[Tuple[int, str]], first: int, stop: int,
               indent: str, nested: bool) -> Tuple[Block, ...]:
    """Blocks among ``statements[first:stop]`` that are at exactly ``indent``."""
    found: List[Block] = []
    width = _indent_width(indent)
    index = first
    decorators: Optional[int] = None
    while index < stop:
        number, own = statements[index]
        if own != indent:
            index += 1
            decorators = None
            continue
        if _DECORATOR.match(lines[number]):
            decorators = number if decorators is None else decorators
            index += 1
            continue
        header = _HEADER.match(lines[number])
        if header is None:
            decorators = None
            index += 1
            continue
        after = index + 1
        while after < stop and _indent_width(statements[after][1]) > width:
            after += 1
        end = statements[after][0] if after < len(statements) else len(lines)
        children: Tuple[Block, ...] = ()
        if nested and header.group("kind") == "class" and after > index + 1:
            body_indent = statements[index + 1][1]
            children = _blocks_at(lines, statements, index + 1, after, body_indent, nested=False)
        found.append(Block(header.group("kind"), header.group("name"),
                           decorators if decorators is not None else number, number, end, indent,
                           children))
        decorators = None
        index = after
    return tuple(found)


@dataclass(frozen=True)
class Outline:
    """An outline's text and what :func:`verify` expects of its parse."""

    text: str
    #: How many ``def`` statements the outline holds, stubs and kept ones.
    functions: int
    #: Lines of the module that were kept as they are.
    kept: int
    total: int
    #: The first line and indentation of each statement of ``text``, in order.
    statements: Tuple[Tuple[int, str], ...] = ()


def outline(text: str, keep: Callable[[Block, str], bool], classes: str = "members") -> Optional[Outline]:
    """``text`` with the blocks it does not need replaced by stubs.

    A top-level ``def`` is kept when ``keep(block, block_text)``.  A top-level class,
    by ``classes``: ``"members"`` keeps its statements, ``__init__`` and the members
    ``keep`` accepts (the whole class becomes a stub when it accepts none);
    ``"whole"`` keeps every class as it is; ``"fields"`` keeps its statements and
    stubs every member.

    None when the scan is unsure or nothing would be left out (parse ``text`` itself).
    """
    scanned = _scan(text)
    if scanned is None:
        return None
    lines, statements = scanned
    top = _blocks_at(lines, statements, 0, len(statements), "", nested=True)
    out = list(lines)
    blanked = [False] * len(lines)
    stubs: List[Block] = []

    def source(block: Block) -> str:
        return "".join(lines[block.start:block.end])

    def stub(block: Block) -> None:
        for number in range(block.start, block.end):
            out[number] = _ending(lines[number])
            blanked[number] = True
        head = f"def {block.name}(): ..." if block.kind == "def" else f"class {block.name}: ..."
        out[block.header] = f"{block.indent}{head}{_ending(lines[block.header])}"
        stubs.append(block)

    for block in top:
        if block.kind == "def":
            if not keep(block, source(block)):
                stub(block)
        elif classes == "fields":
            for child in block.children:
                stub(child)
        elif classes == "members":
            members = {child for child in block.children if keep(child, source(child))}
            if not members:
                stub(block)
                continue
            for child in block.children:
                if child not in members and child.name != "__init__":
                    stub(child)
    if not stubs:
        return None
    # What the parse must show: each def the scan saw outside the stubs, and the stubs.
    kept_defs = 0
    for number, _ in statements:
        header = None if blanked[number] else _HEADER.match(lines[number])
        kept_defs += header is not None and header.group("kind") == "def"
    own = [(number, indent) for number, indent in statements if not blanked[number]]
    own += [(b.header, b.indent) for b in stubs]
    return Outline(text="".join(out), functions=kept_defs + sum(b.kind == "def" for b in stubs),
                   kept=blanked.count(False), total=len(lines), statements=tuple(sorted(own)))


def _ending(line: str) -> str:
    if line.endswith("\r\n"):
        return "\r\n"
    if line.endswith(("\n", "\r")):
        return line[-1]
    return ""


def verify(expected: Outline, tree) -> bool:
    """Whether the parsed outline holds every ``def`` the scan saw (none hidden in a string)."""
    import libcst as cst

    count = 0
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.FunctionDef):
            count += 1
        if isinstance(node, (cst.Module, cst.BaseSuite, cst.BaseCompoundStatement)):
            stack.extend(node.children)
    return count == expected.functions


def restore(original: str, outline_text: str, rewritten: str) -> Optional[str]:
    """``original`` with the lines a fix inserted into its outline inserted at the same
    places, or None when ``rewritten`` does more than insert non-blank lines."""
    old, new, source = split_lines(outline_text), split_lines(rewritten), split_lines(original)
    if len(source) != len(old):
        return None
    out: List[str] = []
    i = 0
    for line in new:
        if i < len(old) and line == old[i]:
            out.append(source[i])
            i += 1
        elif line.strip():
            out.append(line)
        else:
            return None
    if i != len(old):
        return None
    return "".join(out)


def statement_lines(tree, statements: Optional[Sequence[Tuple[int, str]]] = None,
                    text: Optional[str] = None) -> Optional[Dict[int, Tuple[int, int]]]:
    """``id(node)`` → (line, column), both from 1, of every statement of the parsed
    ``tree`` (and of its clauses and decorators), from the scan of its text instead of
    LibCST's position pass, which costs as much as the parse.

    ``statements`` is the scan of the tree's text (scanned from ``text`` when not given).
    None when the scan and the tree disagree.
    """
    if statements is None:
        scanned = _scan(text or "")
        if scanned is None:
            return None
        statements = scanned[1]
    starts: List[int] = []
    _line_nodes(tree.body, starts)
    if len(starts) != len(statements):
        return None
    return {node: (number + 1, len(indent) + 1)
            for node, (number, indent) in zip(starts, statements)}


def _line_nodes(body, out: List[int]) -> None:
    """The ids of the nodes that start a line, in the order of the source."""
    import libcst as cst

    for stmt in body:
        if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            out.extend(id(d) for d in stmt.decorators)
        out.append(id(stmt))
        if isinstance(stmt, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
            continue
        _clauses(stmt, out)


def _clauses(stmt, out: List[int]) -> None:
    import libcst as cst

    def suite(node) -> None:
        if isinstance(node, cst.IndentedBlock):
            _line_nodes(node.body, out)

    suite(getattr(stmt, "body", None))
    if isinstance(stmt, (cst.Try, cst.TryStar)):
        for handler in stmt.handlers:
            out.append(id(handler))
            suite(handler.body)
        for clause in (stmt.orelse, stmt.finalbody):
            if clause is not None:
                out.append(id(clause))
                suite(clause.body)
    elif isinstance(stmt, cst.Match):
        for case in stmt.cases:
            out.append(id(case))
            suite(case.body)
    elif isinstance(stmt, (cst.If, cst.For, cst.While)) and stmt.orelse is not None:
        out.append(id(stmt.orelse))
        if isinstance(stmt.orelse, cst.If):
            _clauses(stmt.orelse, out)
        else:
            suite(stmt.orelse.body)

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
from itertools import accumulate
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

#: Strings (triple or single quoted; a prefix changes neither where a string ends nor
#: which lines it spans) and comments: what hides brackets, quotes and line starts.
_TOKENS = re.compile(
    r"""
      \#[^\r\n]*
    | \"\"\" (?: [^"\\] | \\. | "(?!"") )* (?: \"\"\" | \Z )
    | ''' (?: [^'\\] | \\. | '(?!'') )* (?: ''' | \Z )
    | " (?: [^"\\\r\n] | \\. )* (?: " | (?=[\r\n]) | \Z )
    | ' (?: [^'\\\r\n] | \\. )* (?: ' | (?=[\r\n]) | \Z )
    """,
    re.VERBOSE | re.DOTALL,
)
_NEWLINE = re.compile(r"\r\n|\r|\n")
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
    """Where each line of ``text`` starts (Python's line breaks: \\n, \\r\\n and \\r)."""
    if "\r" in text:
        starts = [0] + [m.end() for m in _NEWLINE.finditer(text)]
    else:
        starts = [0]
        starts.extend(accumulate(map((1).__add__, map(len, text.split("\n")[:-1]))))
    if starts[-1] == len(text) and len(starts) > 1:
        starts.pop()
    return starts


def split_lines(text: str) -> List[str]:
    """The lines of ``text`` with their endings, split where Python splits them."""
    return _lines_at(text, _line_starts(text))


def _lines_at(text: str, starts: Sequence[int]) -> List[str]:
    return [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)])] if text else []


def statement_starts(text: str, starts: Sequence[int]) -> Optional[List[bool]]:
    """For each line: does a statement start on it?  None when the scan is unsure.

    Strings and comments are taken out first (a multi-line string keeps its line
    breaks), then everything but brackets and backslashes; what is left of each line
    is mostly nothing, and the rest is counted with str.count.  That keeps this scan
    a small fraction of a parse.
    """
    inside = [False] * len(starts)  # the line begins inside a string
    pieces: List[str] = []
    last = 0
    for match in _TOKENS.finditer(text):
        start, end = match.span()
        pieces.append(text[last:start])
        last = end
        if text[start] == "#":
            continue
        if end == len(text) and not match.group().endswith(("'", '"')):
            return None  # an unterminated string
        first_line = bisect.bisect_right(starts, start)
        last_line = bisect.bisect_right(starts, end - 1)
        if last_line > first_line:
            for line in range(first_line, last_line):
                inside[line] = True
            pieces.append("\n" * (last_line - first_line))
    pieces.append(text[last:])
    code = _NEWLINE.split("".join(pieces).translate(_BRACKETS_ONLY))
    if len(code) < len(starts):
        return None
    depth = 0
    continued = False
    begins = [False] * len(starts)
    for number in range(len(starts)):
        line = code[number]
        begins[number] = not (depth or continued or inside[number])
        if line:
            depth += (line.count("(") + line.count("[") + line.count("{")
                      - line.count(")") - line.count("]") - line.count("}"))
            if depth < 0:
                return None
            continued = line.endswith("\\")
        else:
            continued = False
    if depth:
        return None
    return begins


class _KeepBrackets(dict):
    """A str.translate table: brackets, backslashes and line breaks stay, the rest goes."""

    def __missing__(self, key: int) -> Optional[int]:
        value = key if chr(key) in "()[]{}\\\r\n" else None
        self[key] = value
        return value


_BRACKETS_ONLY = _KeepBrackets()


def _indent_width(indent: str) -> int:
    return len(indent.expandtabs(8))


def _scan(text: str) -> Optional[Tuple[List[str], List[Tuple[int, str]]]]:
    """The module's lines and, for each statement, its first line and indentation."""
    starts = _line_starts(text)
    lines = _lines_at(text, starts)
    begins = statement_starts(text, starts) if text else []
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
    ``"whole"`` keeps every class as it is; ``"fields"`` keeps every class's
    statements and the members ``keep`` accepts.

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
                if not keep(child, source(child)):
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


def batches(text: str, keep: Callable[[Block, str], bool], limit: int) -> Optional[List[Tuple[str, List[Tuple[int, int]]]]]:
    """The ``"fields"`` outline of a large module cut into texts of about ``limit``
    characters of classes each, for a reader that needs one class at a time (LibCST's tree
    takes hundreds of times the memory of its text).

    Each text has every module-level statement and the classes of its batch (with their
    members as :func:`outline` keeps them); the other classes are ``class Name: ...``
    stubs, so every name is still bound; line numbers are the module's.  Returned with
    each text: the line ranges (``[start, end)``, from 1) of its own classes.  None when
    the outline is small enough to parse at once, or the scan is unsure.
    """
    shape = outline(text, keep, "fields")
    reduced = shape.text if shape is not None else text  # None: nothing to stub, or unsure
    if len(reduced) <= limit:
        return None
    scanned = blocks(reduced)
    if scanned is None:
        return None
    lines, top = scanned
    classes = [block for block in top if block.kind == "class"]
    groups: List[List[Block]] = [[]]
    size = 0
    for block in classes:
        length = sum(len(lines[n]) for n in range(block.start, block.end))
        if groups[-1] and size + length > limit:
            groups.append([])
            size = 0
        groups[-1].append(block)
        size += length
    out = []
    for group in groups:
        own = set(map(id, group))
        text_lines = list(lines)
        for block in classes:
            if id(block) in own:
                continue
            for number in range(block.start, block.end):
                text_lines[number] = _ending(lines[number])
            text_lines[block.header] = f"class {block.name}: ...{_ending(lines[block.header])}"
        out.append(("".join(text_lines), [(b.start + 1, b.end + 1) for b in group]))
    return out


def _ending(line: str) -> str:
    if line.endswith("\r\n"):
        return "\r\n"
    if line.endswith(("\n", "\r")):
        return line[-1]
    return ""


def verify(expected: Outline, tree) -> bool:
    """Whether the parsed outline holds every ``def`` the scan saw (none hidden in a string)."""
    import libcst as cst

    return sum(isinstance(node, cst.FunctionDef) for node in line_nodes(tree)) == expected.functions


def parse(text: str, keep: Callable[[Block, str], bool], classes: str = "members"):
    """``(tree, outline)``: the parsed outline of ``text``, or (when there is no sound
    outline) the parsed ``text`` and None.  Raises ``libcst.ParserSyntaxError`` only for
    ``text`` itself."""
    import libcst as cst

    shape = outline(text, keep, classes)
    if shape is not None:
        try:
            tree = cst.parse_module(shape.text)
        except (cst.ParserSyntaxError, RecursionError):
            tree = None
        if tree is not None and verify(shape, tree):
            return tree, shape
    return cst.parse_module(text), None


class Positions:
    """Where nodes of a parsed module (or outline) are, without LibCST's position pass
    over the whole module when it can be helped.

    A statement's line comes from the scan of the text; a node within a statement, from
    the positions of that statement alone; the whole module's positions (which cost as
    much as its parse) only when neither can say.
    """

    def __init__(self, tree, text: str, shape: Optional[Outline] = None) -> None:
        self.tree = tree
        self.text = text
        self.shape = shape
        self._statements: Optional[Dict[int, Tuple[int, int]]] = None
        self._alone: Dict[int, Tuple[object, List[str]]] = {}
        self._lines: Optional[List[str]] = None
        self._whole = None

    def statements(self) -> Dict[int, Tuple[int, int]]:
        if self._statements is None:
            known = self.shape.statements if self.shape is not None else None
            self._statements = statement_lines(self.tree, known, self.text) or {}
        return self._statements

    def of(self, node, within=None) -> Tuple[int, int]:
        """(line, column) of ``node``, both from 1; ``within``: the statement holding it."""
        found = self.statements().get(id(node))
        if found is None and within is not None:
            found = self.within(node, within)
        if found is not None:
            return found
        if self._whole is None:
            from libcst.metadata import MetadataWrapper, PositionProvider

            self._whole = MetadataWrapper(self.tree, unsafe_skip_copy=True).resolve(PositionProvider)
        pos = self._whole.get(node)
        if pos is None:
            return (0, 0)
        return (pos.start.line, pos.start.column + 1)

    def within(self, node, stmt) -> Optional[Tuple[int, int]]:
        import libcst as cst
        from libcst.metadata import MetadataWrapper, PositionProvider

        start = self.statements().get(id(stmt))
        if start is None or not isinstance(stmt, cst.BaseStatement):
            return None
        alone = self._alone.get(id(stmt))
        if alone is None:
            module = cst.Module(body=[stmt], default_indent=self.tree.default_indent,
                                default_newline=self.tree.default_newline)
            alone = (MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider),
                     module.code.splitlines())
            self._alone[id(stmt)] = alone
        positions, generated = alone
        pos, anchor = positions.get(node), positions.get(stmt)  # type: ignore[attr-defined]
        if pos is None or anchor is None or pos.start.line > len(generated):
            return None
        line = start[0] + pos.start.line - anchor.start.line
        if self._lines is None:
            self._lines = [text.rstrip("\r\n") for text in split_lines(self.text)]
        if not 1 <= line <= len(self._lines):
            return None
        # The statement alone lacks the indentation of the blocks around it, nothing else.
        original, alone_line = self._lines[line - 1], generated[pos.start.line - 1]
        if not original.endswith(alone_line):
            return None
        return line, pos.start.column + len(original) - len(alone_line) + 1


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
    starts = line_nodes(tree)
    if len(starts) != len(statements):
        return None
    return {id(node): (number + 1, len(indent) + 1)
            for node, (number, indent) in zip(starts, statements)}


def line_nodes(tree) -> List[object]:
    """The nodes that start a line (statements, their clauses and decorators), in the
    order of the source."""
    out: List[object] = []
    _line_nodes(tree.body, out)
    return out


def _line_nodes(body, out: List[object]) -> None:
    """The ids of the nodes that start a line, in the order of the source."""
    import libcst as cst

    for stmt in body:
        if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            out.extend(stmt.decorators)
        out.append(stmt)
        if isinstance(stmt, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
            continue
        _clauses(stmt, out)


def _clauses(stmt, out: List[object]) -> None:
    import libcst as cst

    def suite(node) -> None:
        if isinstance(node, cst.IndentedBlock):
            _line_nodes(node.body, out)

    suite(getattr(stmt, "body", None))
    if isinstance(stmt, (cst.Try, cst.TryStar)):
        for handler in stmt.handlers:
            out.append(handler)
            suite(handler.body)
        for clause in (stmt.orelse, stmt.finalbody):
            if clause is not None:
                out.append(clause)
                suite(clause.body)
    elif isinstance(stmt, cst.Match):
        for case in stmt.cases:
            out.append(case)
            suite(case.body)
    elif isinstance(stmt, (cst.If, cst.For, cst.While)) and stmt.orelse is not None:
        out.append(stmt.orelse)
        if isinstance(stmt.orelse, cst.If):
            _clauses(stmt.orelse, out)
        else:
            suite(stmt.orelse.body)

"""Writing fixes: the analysis's edits applied to the text, every other byte kept as it was.

An edit is whole lines inserted before a line of the original (:class:`~codemods.types.Edit`),
so applying one needs no parse. The one change that is not an insertion of lines, adding
``select``/``selectinload`` to the imports (SQLAlchemy 1.4 re-selects), is made by LibCST's
``AddImportsVisitor``, which merges them into an existing ``from sqlalchemy import ...``.
The result must parse, or the file is left unchanged and the failure reported (a bug of
ours, never the user's).
"""

from __future__ import annotations

import re
from typing import Dict, List, Optional, Sequence, Set, Tuple

from codemods import frontend
from codemods.types import Edit

_LINES = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


class RewriteError(Exception):
    """The edits could not be applied: a bug of flushguard's, reported without changing the file."""


def split_lines(text: str) -> List[str]:
    """The lines of ``text`` with their endings, broken where Python and git break them."""
    return _LINES.findall(text)


def _place(edit: Edit) -> Tuple[int, int]:
    """Where an edit goes among the edits: by line; at one line, the most indented first (a
    fix at the end of a block goes before a fix after the block), else in the edits' order
    (the sort is stable)."""
    text = edit.text
    return edit.before, -(len(text) - len(text.lstrip(" \t\f")))


def insert(source: str, edits: Sequence[Edit]) -> str:
    """``source`` with each edit's lines inserted before its line (edits at one place in order)."""
    lines = split_lines(source)
    out: List[str] = []
    position = 0
    for edit in sorted(edits, key=_place):
        before = min(edit.before, len(lines))
        out.extend(lines[position:before])
        position = before
        text = edit.text
        if before == len(lines) and lines and not lines[-1].endswith(("\n", "\r")):
            # The file ends without a line break: the fix becomes its last line, likewise.
            out[-1] += _break(text)
            text = text[: -len(_break(text))]
        out.append(text)
    out.extend(lines[position:])
    return "".join(out)


def replacements(source: str, edits: Sequence[Edit]) -> List[Tuple[int, int, str]]:
    """What the edits do to ``source`` as (character offset, characters replaced, new text):
    an insertion per edit, and the import statements they need as one replacement."""
    lines = split_lines(source)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    out: List[Tuple[int, int, str]] = []
    for edit in sorted(edits, key=_place):
        before = min(edit.before, len(lines))
        if before == len(lines) and lines and not lines[-1].endswith(("\n", "\r")):
            out.append((offsets[before], 0, _break(edit.text) + edit.text[: -len(_break(edit.text))]))
        else:
            out.append((offsets[before], 0, edit.text))
    imports = {name for edit in edits for name in edit.imports}
    if imports:
        with_imports = split_lines(add_imports(source, imports))
        start = 0
        while start < min(len(lines), len(with_imports)) and lines[start] == with_imports[start]:
            start += 1
        end = 0
        while end < min(len(lines), len(with_imports)) - start \
                and lines[-1 - end] == with_imports[-1 - end]:
            end += 1
        out.append((offsets[start], offsets[len(lines) - end] - offsets[start],
                    "".join(with_imports[start:len(with_imports) - end])))
    return sorted(out, key=lambda r: r[0])


def _break(text: str) -> str:
    return "\r\n" if text.endswith("\r\n") else text[-1:]


def apply(source: str, edits: Sequence[Edit]) -> str:
    """``source`` with the edits made (and the imports they need added); raises
    :class:`RewriteError` when the result would not parse."""
    if not edits:
        return source
    rewritten = insert(source, edits)
    imports = {name for edit in edits for name in edit.imports}
    if imports:
        rewritten = add_imports(rewritten, imports)
    try:
        frontend.parse(rewritten)
    except frontend.ParseError:
        raise RewriteError("internal error: the fixed file would not parse; left unchanged") from None
    return rewritten


def add_imports(source: str, names: Set[str]) -> str:
    """``source`` importing ``names`` from SQLAlchemy (``selectinload`` from ``sqlalchemy.orm``)."""
    import libcst as cst
    from libcst.codemod import CodemodContext
    from libcst.codemod.visitors import AddImportsVisitor

    context = CodemodContext()
    for name in sorted(names):
        module = "sqlalchemy.orm" if name == "selectinload" else "sqlalchemy"
        AddImportsVisitor.add_needed_import(context, module, name)
    try:
        tree = cst.parse_module(source)
    except cst.ParserSyntaxError:
        raise RewriteError("internal error: the fixed file would not parse; left unchanged") from None
    rewritten = AddImportsVisitor(context).transform_module(tree).code
    rendered = tree.code
    if rendered != source:  # LibCST's round trip lost something: redo its edits on the text
        rewritten = _replay(source, rendered, rewritten) or rewritten
    return rewritten


def _replay(text: str, rendered: str, rewritten: str) -> Optional[str]:
    """The edits that turn ``rendered`` (LibCST's rendering of ``text``) into ``rewritten``,
    made to ``text`` itself; None when an edit touches a line ``rendered`` does not share with
    ``text``. LibCST renders blank lines before an indented comment that ends a file as
    nothing, and a fix must not take them away."""
    import difflib

    base, old, new = split_lines(text), split_lines(rendered), split_lines(rewritten)
    where: Dict[int, int] = {len(old): len(base)}
    for block in difflib.SequenceMatcher(None, base, old, autojunk=False).get_matching_blocks():
        for k in range(block.size):
            where[block.b + k] = block.a + k
    out: List[str] = []
    position = 0
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        if i1 not in where or any(i not in where for i in range(i1, i2)):
            return None
        start = where[i1]
        end = where[i2 - 1] + 1 if i2 > i1 else start
        if start < position or end < start:
            return None
        out.extend(base[position:start])
        out.extend(new[j1:j2])
        position = end
    out.extend(base[position:])
    return "".join(out)

"""Fixes: each plan (a site, an object, the attributes it needs) as a structured edit.

A fix is ``await S.refresh(obj, [...])`` with the site's session expression, a loop for a
tracked list, and on SQLAlchemy 1.4 a ``selectinload`` re-select for relationships (1.4
refuses ``refresh(obj, ["relationship"])``). Its :class:`~codemods.types.Edit` says exactly
where it goes: before the line after the site statement (and after the refreshes already
there), indented as the statement is. Nothing here parses or writes: the edits go to
:mod:`codemods.rewrite`, and only for files that have one.
"""

from __future__ import annotations

import io
import re
import tokenize
from typing import Dict, List, Optional, Sequence, Set, Tuple

from codemods.analysis.reads import FixPlan, attribute_order
from codemods.types import Edit, Fix, Settings


#: An expression a fix can name the object by: a variable, an attribute, a dict's values.
_REFERABLE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*(\.values\(\))?\Z")


def plan_fixes(plans: Dict[Tuple[int, str], FixPlan], settings: Settings, source: str,
               lines: Sequence[str], layout: Tuple[str, str]) -> Tuple[Dict[Tuple[int, str], Fix], List[Edit]]:
    """The fix of each plan that can be inserted, and the edits to apply (safe fixes, and
    unsafe ones with ``--unsafe-fixes``). ``lines`` are the source's lines without breaks,
    ``layout`` its indentation unit and line break (:func:`file_layout`)."""
    indent, newline = layout
    fixes: Dict[Tuple[int, str], Fix] = {}
    edits: List[Edit] = []
    words: Optional[Set[str]] = None
    for key, plan in sorted(plans.items(), key=lambda kv: (kv[1].site.line, kv[1].obj.order)):
        model = plan.obj.model
        safe_names = attribute_order(model, plan.certain)
        all_names = attribute_order(model, plan.certain | plan.possible)
        names = all_names if (settings.unsafe_fixes or not safe_names) else safe_names
        if not names or not plan.site.insertable or not _REFERABLE.match(plan.obj_key):
            continue  # (an object returned as it is made has no name to refresh it by)
        loop_var = None
        if plan.obj.is_list:
            if words is None:
                # Every word of the module, strings and comments included: a superset of its
                # names, read from the text rather than from a tree.
                words = set(re.findall(r"\w+", source))
            loop_var = element_name(plan.obj_key, words)
        needed: Set[str] = set()
        text = statement(plan, names, loop_var, settings, indent, newline, needed)
        margin_line = plan.site.margin_line or plan.site.line
        site_line = lines[margin_line - 1] if margin_line <= len(lines) else ""
        margin = site_line[:len(site_line) - len(site_line.lstrip(" \t\f"))]
        edit = Edit(before=plan.site.after,
                    text="".join(margin + part + newline for part in text.split(newline)),
                    imports=tuple(sorted(needed)))
        fixes[key] = Fix(applicability="safe" if safe_names else "unsafe", line=plan.site.line,
                         text=text, edit=edit)
        if safe_names or settings.unsafe_fixes:
            edits.append(edit)
    return fixes, edits


def statement(plan: FixPlan, names: Sequence[str], loop_var: Optional[str], settings: Settings,
              indent: str, newline: str, imports: Set[str]) -> str:
    """The statement(s) that reload ``names`` of the plan's object after its site."""
    session = plan.site.session
    obj = plan.obj
    target = loop_var or plan.obj_key
    relationships = [n for n in names if obj.model.relationship(n) is not None]
    if settings.sqlalchemy == "1.4" and relationships:
        imports.update({"select", "selectinload"})
        text = reselect_text(session, obj.ref, obj.model.primary_key, target, relationships)
        first: List[str] = []
        if plan.site.kind in ("rollback", "expire") or (
                plan.site.kind == "commit" and settings.expire_on_commit):
            # The re-select's WHERE reads the primary key, which the site expired: load it first.
            first += list(obj.model.primary_key)
        # The re-select does not select deferred columns: they are refreshed by name.
        first += [n for n in names if n not in first and _deferred(obj.model, n)]
        if first:
            inner = indent if loop_var is not None else ""
            text = refresh_text(settings, session, target, first) + newline + inner + text
    else:
        text = refresh_text(settings, session, target, names)
    if loop_var is not None:
        text = f"for {loop_var} in {plan.obj_key}:{newline}{indent}{text}"
    if plan.site.block_end:  # at the end of a begin() block: its commit has not flushed yet
        text = f"await {session}.flush(){newline}{text}"
    return text


def _deferred(model, name: str) -> bool:
    column = model.column(name)
    return column is not None and column.deferred


def refresh_text(settings: Settings, session: str, target: str, names: Sequence[str]) -> str:
    quoted = ", ".join(f'"{n}"' for n in names)
    if settings.refresh_keyword:
        return f"await {session}.refresh({target}, attribute_names=[{quoted}])"
    return f"await {session}.refresh({target}, [{quoted}])"


def reselect_text(session: str, model: str, primary_key: Sequence[str], target: str,
                  relationships: Sequence[str]) -> str:
    if len(primary_key) > 1:
        where = " & ".join(f"({model}.{pk} == {target}.{pk})" for pk in primary_key)
    else:
        where = f"{model}.{primary_key[0]} == {target}.{primary_key[0]}"
    options = ", ".join(f"selectinload({model}.{r})" for r in relationships)
    return f"await {session}.execute(select({model}).where({where}).options({options}))"


def element_name(list_name: str, used: Set[str]) -> str:
    """A loop variable for the elements of ``list_name`` that rebinds no name the module uses."""
    base = list_name.removesuffix(".values()").rsplit(".", 1)[-1]  # a dict's objects
    candidates = []
    if base.endswith("s") and len(base) > 1:
        candidates.append(base[:-1])
    candidates += [f"{base}_item", "obj"]
    for candidate in candidates:
        if candidate not in used and candidate.isidentifier():
            return candidate
    number = 2
    while f"{base}_item{number}" in used:
        number += 1
    return f"{base}_item{number}"


def file_layout(source: str) -> Tuple[str, str]:
    """The file's indentation unit and line break as LibCST detects them (the first INDENT
    token; the first line break), so that a fix's text reads as the file's own."""
    breaks = [i for i in (source.find("\r"), source.find("\n")) if i >= 0]
    newline = "\n"
    if breaks:
        first = min(breaks)
        newline = "\r\n" if source.startswith("\r\n", first) else source[first]
    indent = "    "
    try:
        for token in tokenize.generate_tokens(io.StringIO(source, newline=None).readline):
            if token.type == tokenize.INDENT:
                indent = token.string
                break
    except (tokenize.TokenError, SyntaxError):
        pass
    return indent, newline

"""Where the refresh goes and how it reads, from the recorded frames and the source they name.

Three questions, answered after the crash (never while recording):

- *Which statement is the site?* The innermost user frame of the flush, unless that frame is a
  helper: a function whose statement is its last and that hands nothing back (no `return value`,
  no `yield`), such as `async def _save(self, obj): self.db.add(obj); await self.db.flush()`.
  Whatever reads the object afterwards is a caller, so the site is the caller's call of the
  helper (`await self._save(org)`), as `flushguard check` reports it.
- *Which session expression?* The one the site's statement calls (`self.db` in
  `await self.db.flush()`); for a helper, the helper's own expression, with a parameter
  replaced by the argument the call passed.
- *Which name holds the object there?* A live frame of the site's function on the
  exception's traceback answers by identity; otherwise the function's source: the name it
  returns, passes to the helper, adds to the session or builds from the model.

The source is read with `ast` (cached per file); nothing here imports SQLAlchemy or LibCST.
"""

from __future__ import annotations

import ast
import functools
import linecache
import os
import re
from typing import Any, Optional, Union

from codemods.runtime.frames import FrameTuple

FunctionNode = Union[ast.FunctionDef, ast.AsyncFunctionDef]

#: `S.flush(`, `S.commit(`, `S.begin(` (the commit at the end of `async with S.begin():`), ...
#: An expression that names a session (``session``, ``self.db``, ``uow.session``).
_SESSION_NAME = re.compile(r"(?:^|\.)(?:\w*session|db)$")
_SESSION_CALL = re.compile(
    r"([A-Za-z_][\w.]*)\s*\.\s*"
    r"(flush|commit|rollback|expire_all|expire|begin_nested|begin|refresh|execute|scalars|scalar|get)"
    r"\s*\("
)


def source_line(path: str, line: int) -> str:
    return linecache.getline(path, line).strip()


@functools.lru_cache(maxsize=128)
def _parsed(path: str, mtime: float) -> Optional[ast.Module]:
    try:
        with open(path, "rb") as handle:
            return ast.parse(handle.read(), filename=path)
    except (OSError, SyntaxError, ValueError):
        return None


def _module(path: str) -> Optional[ast.Module]:
    try:
        mtime = os.stat(path).st_mtime
    except OSError:
        return None
    return _parsed(path, mtime)


def function_node(frame: FrameTuple) -> Optional[FunctionNode]:
    """The `def` of a recorded frame (matched by its first line, decorators included)."""
    path, _, name, first_line = frame
    module = _module(path)
    if module is None:
        return None
    for node in ast.walk(module):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            starts = [node.lineno] + [d.lineno for d in node.decorator_list]
            if first_line in starts:
                return node
    return None


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def _own_nodes(function: FunctionNode):
    """The nodes of `function`'s body, not those of functions or classes nested in it."""
    pending = list(function.body)
    while pending:
        node = pending.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, _SCOPES):
                pending.append(child)


def is_helper(frame: FrameTuple) -> bool:
    """Whether the frame's statement ends a function that hands nothing back (see above)."""
    function = function_node(frame)
    if function is None or not function.body:
        return False
    for node in _own_nodes(function):
        if isinstance(node, ast.Return) and node.value is not None:
            return False
        if isinstance(node, (ast.Yield, ast.YieldFrom)):
            return False
    last = function.body[-1]
    return last.lineno <= frame[1] <= (last.end_lineno or last.lineno)


def resolve_site(frame_tuples: tuple[FrameTuple, ...]) -> tuple[FrameTuple, tuple[FrameTuple, ...]]:
    """(the site's frame, the helper frames inside it, innermost first)."""
    index = 0
    while index + 1 < len(frame_tuples) and is_helper(frame_tuples[index]):
        index += 1
    return frame_tuples[index], frame_tuples[:index]


def session_expression(site: FrameTuple, inner: tuple[FrameTuple, ...]) -> Optional[str]:
    """The session expression for the refresh at `site` (see the module docstring)."""
    found = _SESSION_CALL.search(source_line(site[0], site[1]))
    if found is not None:
        return found.group(1)
    if not inner:
        return None
    expression = session_expression(inner[-1], inner[:-1])
    if expression is None:
        return None
    return _through_call(expression, site, inner[-1])


def _through_call(expression: str, site: FrameTuple, helper: FrameTuple) -> Optional[str]:
    """`expression` of the helper, as the caller at `site` spells it."""
    root, dot, rest = expression.partition(".")
    function = function_node(helper)
    if function is None:
        return expression if root == "self" else None
    parameters = [a.arg for a in function.args.posonlyargs + function.args.args]
    if root == "self":
        return _through_receiver(expression, site, function.name)
    if root not in parameters + [a.arg for a in function.args.kwonlyargs]:
        return None
    call = _call_at(site, function.name)
    if call is None:
        return None
    argument: Optional[ast.expr] = None
    for keyword in call.keywords:
        if keyword.arg == root:
            argument = keyword.value
    if argument is None:
        index = parameters.index(root) if root in parameters else -1
        if parameters and parameters[0] in ("self", "cls") and isinstance(call.func, ast.Attribute):
            index -= 1
        if 0 <= index < len(call.args):
            argument = call.args[index]
    if argument is None:
        return None
    return ast.unparse(argument) + (dot + rest if dot else "")


def _through_receiver(expression: str, site: FrameTuple, name: str) -> Optional[str]:
    """A helper's ``self.session`` as the caller at ``site`` spells it: the same when the
    caller calls ``self.helper()``; the one session given to the receiver when it was built
    (``repo = Repo.from_session(session)``, then ``repo.helper()``); else the receiver's own
    attribute (``self.tasks.add()`` → ``self.tasks.session``), as ``flushguard check`` spells it."""
    call = _call_at(site, name)
    if call is None or not isinstance(call.func, ast.Attribute):
        return None
    receiver = call.func.value
    if isinstance(receiver, ast.Name) and receiver.id == "self":
        return expression
    if not isinstance(receiver, (ast.Name, ast.Attribute)):
        return None
    own = ast.unparse(receiver) + expression[len("self"):]
    function = function_node(site)
    if function is None or not isinstance(receiver, ast.Name):
        return own
    given = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and any(
                isinstance(t, ast.Name) and t.id == receiver.id for t in node.targets):
            given.update(ast.unparse(a) for a in [*node.value.args, *(k.value for k in node.value.keywords)]
                         if _SESSION_NAME.search(ast.unparse(a)))
    if len(given) > 1:
        return None
    return given.pop() if given else own


def _call_at(site: FrameTuple, name: str) -> Optional[ast.Call]:
    module = _module(site[0])
    if module is None:
        return None
    for node in ast.walk(module):
        if not isinstance(node, ast.Call):
            continue
        if node.lineno <= site[1] <= (node.end_lineno or node.lineno):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if called == name:
                return node
    return None


# ----------------------------------------------------------------------------------------------
# The object's name
# ----------------------------------------------------------------------------------------------


def name_in_frame(frame: Any, instance: object) -> Optional[tuple[str, bool]]:
    """(name, holds a list of such objects) of `instance` among a live frame's locals."""
    try:
        local_items = list(frame.f_locals.items())
    except Exception:
        return None
    for name, value in local_items:
        if value is instance and name != "self":
            return name, False
    for name, value in local_items:
        if isinstance(value, (list, tuple)) and any(item is instance for item in value):
            return name, True
    return None


def name_in_source(
    site: FrameTuple, inner: tuple[FrameTuple, ...], model: str
) -> Optional[tuple[str, bool]]:
    """(name, holds a list) of the object in the site's function, read from its source."""
    function = function_node(site)
    if function is None:
        return None
    votes: dict[str, int] = {}
    order: list[str] = []
    lists: set[str] = set()

    def vote(name: str, weight: int) -> None:
        if name in ("self", "cls"):
            return
        if name not in votes:
            order.append(name)
        votes[name] = votes.get(name, 0) + weight

    for node in _own_nodes(function):
        if isinstance(node, ast.Return) and node.value is not None:
            for name in _names(node.value):
                vote(name, 5)  # what leaves the function is what a consumer reads
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                if _builds(node.value, model):
                    vote(target.id, 3)
                if isinstance(node.value, (ast.List, ast.ListComp)):
                    lists.add(target.id)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in ("add", "add_all", "refresh", "merge") and node.args:
                for name in _names(node.args[0]):
                    vote(name, 1)
                    if node.func.attr == "add_all":
                        lists.add(name)
    if inner:
        call = _call_at(site, inner[-1][2])
        if call is not None:
            for argument in [*call.args, *(k.value for k in call.keywords)]:
                for name in _names(argument):
                    vote(name, 2)
    if not votes:
        return None
    best = max(order, key=lambda name: (votes[name], -order.index(name)))
    return best, best in lists


def _names(node: ast.expr) -> list[str]:
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, (ast.Tuple, ast.List)):
        return [e.id for e in node.elts if isinstance(e, ast.Name)]
    return []


def _builds(value: ast.expr, model: str) -> bool:
    """`Model(...)`, `await S.get(Model, ...)` or a `select(Model)` result."""
    if isinstance(value, ast.Await):
        value = value.value
    if not isinstance(value, ast.Call):
        return False
    func = value.func
    called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if called == model:
        return True
    return any(isinstance(a, ast.Name) and a.id == model for a in value.args) or any(
        isinstance(n, ast.Name) and n.id == model for n in ast.walk(value)
    )


def snake_case(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def loop_name(site: FrameTuple, name: str) -> str:
    """The loop variable for a list `name`: its singular when the function does not use that
    name already (`orgs` -> `org`), else `<name>_item`."""
    singular = name[:-1] if len(name) > 1 and name.endswith("s") else ""
    function = function_node(site)
    used = {n.id for n in ast.walk(function) if isinstance(n, ast.Name)} if function else set()
    if function is not None:
        used.update(a.arg for a in ast.walk(function.args) if isinstance(a, ast.arg))
    return singular if singular.isidentifier() and singular not in used else f"{name}_item"


def keyword_style(path: str) -> bool:
    """Whether the module's own refresh calls name their attributes as `attribute_names=`."""
    module = _module(path)
    if module is None:
        return False
    for node in ast.walk(module):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "refresh"
            and any(k.arg == "attribute_names" for k in node.keywords)
        ):
            return True
    return False


def refresh_text(
    session: str, target: str, item: Optional[str], attributes: list[str], keyword: bool = False
) -> str:
    """`await session.refresh(order, ["created_at"])`; with `item`, a loop over the list
    `target` (`for org in orgs:` then the refresh of `org`)."""
    names = "[" + ", ".join(f'"{a}"' for a in attributes) + "]"
    if keyword:
        names = f"attribute_names={names}"
    if item is not None:
        return f"for {item} in {target}:\n    await {session}.refresh({item}, {names})"
    return f"await {session}.refresh({target}, {names})"


def reselect_text(
    session: str, target: str, item: Optional[str], model: str, primary_key: str, relationship: str
) -> str:
    """SQLAlchemy 1.4's way to load a relationship: re-select with `selectinload`."""
    name = item or target
    statement = (
        f"await {session}.execute(select({model}).where({model}.{primary_key} =="
        f" {name}.{primary_key}).options(selectinload({model}.{relationship})))"
    )
    if item is not None:
        return f"for {item} in {target}:\n    {statement}"
    return statement

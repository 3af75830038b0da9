"""What names mean in one module: its imports, models, schemas and project functions.

Built from the module's IR and the name the engine gives the module (package roots decide
it), this answers the interpreter's questions about names: which mapped class ``User`` or
``models.User`` is, which project function ``svc.update`` calls, which pydantic schema a
response model names, whether an expression is computed by the database, which
relationships a loader option loads, and whether a line carries ``# noqa``.
"""

from __future__ import annotations

import re
from typing import Dict, FrozenSet, Iterator, List, Mapping, Optional, Sequence, Tuple

from codemods.analysis import ir
from codemods.imports import bind
from codemods.types import CallFacts, ModelFacts, ModelIndex

_IDENTIFIER = re.compile(r"^[A-Za-z_][\w.]*$")
_NAMES = re.compile(r"[A-Za-z_][\w.]*")
NOQA = re.compile(r"#\s*(?:noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?|flushguard:\s*ignore)",
                  re.I)
LOADER_OPTIONS = frozenset({"selectinload", "joinedload", "subqueryload", "immediateload",
                            "contains_eager", "undefer"})
#: Annotations of several objects: ``list[User]``, ``Sequence[User]``...
COLLECTIONS = ("list", "List", "Sequence", "Iterable", "Iterator", "set", "Set", "Collection",
               "AsyncIterator", "AsyncIterable", "Generator")
#: Calls whose result is computed by the database: ``func.now()``, ``text("...")``...
SQL_FUNCTIONS = frozenset({"text", "literal_column", "select", "case", "cast", "coalesce"})


def key_of(expr: ir.Expr) -> Optional[str]:
    """The text a value bound to ``expr`` is tracked under (``order``, ``self.org``), or None."""
    if isinstance(expr, ir.Name):
        return expr.id
    if isinstance(expr, ir.Attribute):
        return expr.text
    return None


def call_name(func: ir.Expr) -> Optional[str]:
    """The last component of a called name: ``flush`` for ``self.db.flush``."""
    if isinstance(func, ir.Name):
        return func.id
    if isinstance(func, ir.Attribute):
        return func.attr
    return None


def children(expr: ir.Expr) -> Iterator[ir.Expr]:
    """The expressions directly inside ``expr``."""
    if isinstance(expr, ir.Attribute):
        yield expr.value
    elif isinstance(expr, ir.Call):
        yield expr.func
        for arg in expr.args:
            yield arg.value
    elif isinstance(expr, (ir.Await, ir.Starred, ir.Formatted, ir.Interpolation)):
        yield expr.value
    elif isinstance(expr, ir.Display):
        yield from expr.elements
    elif isinstance(expr, ir.Subscript):
        yield expr.value
        yield expr.index
    elif isinstance(expr, ir.Comprehension):
        for generator in expr.generators:
            yield generator.target
            yield generator.iter
            yield from generator.conditions
        yield expr.element
        if expr.value is not None:
            yield expr.value
    elif isinstance(expr, ir.Lambda):
        yield expr.body
    elif isinstance(expr, ir.NamedExpr):
        yield expr.target
        yield expr.value
    elif isinstance(expr, ir.Other):
        yield from expr.children


def walk(expr: ir.Expr) -> Iterator[ir.Expr]:
    """``expr`` and every expression inside it, outermost first."""
    stack = [expr]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(list(children(current))))


def string_list(expr: Optional[ir.Expr]) -> Optional[List[str]]:
    """``["a", "b"]`` (a list, tuple or set of string literals) → ["a", "b"], else None."""
    if not isinstance(expr, ir.Display):
        return None
    out: List[str] = []
    for element in expr.elements:
        if isinstance(element, ir.Const) and isinstance(element.value, str):
            out.append(element.value)
        else:
            return None
    return out


_RELEVANT: Dict[int, Tuple[CallFacts, FrozenSet[str]]] = {}


def relevant_names(facts: CallFacts) -> FrozenSet[str]:
    """The call names that make a function worth interpreting: the last component of every
    function the facts know returns unloaded objects or flushes the session it is given."""
    known = _RELEVANT.get(id(facts))
    if known is not None and known[0] is facts:
        return known[1]
    names = frozenset(name.rpartition(".")[2] for name in (*facts.returns, *facts.flushers))
    _RELEVANT.clear()  # one set of facts per round: keep the latest
    _RELEVANT[id(facts)] = (facts, names)
    return names


class FactsView:
    """The facts, as one function's interpretation reads them: every question asked and its
    answer is kept, so that a later round knows whether the function would read anything
    different (:meth:`unchanged`)."""

    def __init__(self, facts: CallFacts) -> None:
        self.facts = facts
        self.asked: Dict[Tuple[str, str], object] = {}

    def returns(self, qualname: str):
        found = self.asked[("returns", qualname)] = self.facts.returns.get(qualname)
        return found

    def flushers(self, qualname: str):
        found = self.asked[("flushers", qualname)] = self.facts.flushers.get(qualname)
        return found

    def consumers(self, fqn: str):
        found = self.asked[("consumers", fqn)] = self.facts.consumers.get(fqn, ())
        return found

    def param_reads(self, qualname: str):
        found = self.asked[("param_reads", qualname)] = self.facts.param_reads.get(qualname)
        return found

    def canonical(self, qualname: str) -> str:
        """``pkg.svc.organization.get`` → ``pkg.svc.OrganizationService.get`` when
        ``organization`` is a module-level instance of that class; else ``qualname``."""
        owner, _, method = qualname.rpartition(".")
        found = f"{self.facts.aliases[owner]}.{method}" if owner in self.facts.aliases else qualname
        found = self.facts.inherited.get(found, found)
        self.asked[("canonical", qualname)] = found
        return found

    def returns_arg(self, qualname: str) -> Optional[Tuple[Optional[int], str]]:
        found = self.asked[("returns_arg", qualname)] = self.facts.returns_arg.get(qualname)
        return found

    def untraced(self, fqn: str) -> bool:
        found = self.asked[("untraced", fqn)] = fqn in self.facts.untraced
        return found

    @property
    def schemas(self):
        self.asked[("schemas", "")] = self.facts.schemas_key
        return self.facts.schemas

    def wanted(self, fqn: str) -> bool:
        """Whether a caller could not type what ``fqn`` returns (interpret it wherever it is)."""
        found = self.asked[("wanted", fqn)] = fqn in self.facts.wanted
        return found

    def relevant(self, call: str) -> bool:
        """Whether a call of this name may be a project function the facts know."""
        found = self.asked[("relevant", call)] = call in relevant_names(self.facts)
        return found

    def params_wanted(self, module_name: str) -> Tuple[str, ...]:
        """The functions and classes of a module whose parameter reads a caller asked for."""
        prefix = f"{module_name}."
        found = self.asked[("params_wanted", module_name)] = tuple(sorted(
            q for q in self.facts.params_wanted if q.startswith(prefix)))
        return found

    @staticmethod
    def unchanged(asked: Mapping[Tuple[str, str], object], facts: CallFacts) -> bool:
        """Whether ``facts`` answer every question in ``asked`` as before."""
        view = FactsView(facts)
        for (kind, key), answer in asked.items():
            now = facts.schemas_key if kind == "schemas" else getattr(view, kind)(key)
            if now != answer:
                return False
        return True


class Names:
    """The names of one module, resolved against the project's models and facts."""

    def __init__(self, module: ir.Module, module_name: str, path: str, models: ModelIndex,
                 facts: CallFacts, lines: Sequence[str]) -> None:
        self.module_name = module_name
        self.models = models
        #: The facts, through the view of the function being interpreted.
        self.facts = FactsView(facts)
        self.lines = lines
        self.local_classes = frozenset(module.classes)
        self.local_defs = frozenset(module.functions)
        self.router_prefixes = dict(module.router_prefixes)
        self.type_aliases = dict(module.type_aliases)
        self.imports: Dict[str, str] = {}
        is_package = path.endswith("__init__.py")
        for statement in module.imports:
            bind(self.imports, statement.names, statement.module, statement.level, module_name,
                 is_package)

    def resolve_model(self, name: str) -> Optional[ModelFacts]:
        """The mapped class ``name`` (``User``, ``models.User``, ``"User"``) means here, or None."""
        name = name.strip()
        if not name or not _IDENTIFIER.match(name):
            name = name.strip("\"'")
            if not _IDENTIFIER.match(name):
                return None
        head, _, rest = name.partition(".")
        if head in self.imports:
            qual = self.imports[head] + ("." + rest if rest else "")
            return self.models.resolve(qual.rsplit(".", 1)[-1], qual)
        if rest:
            return None
        if name in self.local_classes:
            return self.models.resolve(name, f"{self.module_name}.{name}")
        return None

    def model_through_interface(self, expr: ir.Expr,
                                var_types: Mapping[str, str]) -> Optional[ModelFacts]:
        """``db.Flow`` where ``db`` holds an instance of a class that hands out mapped classes
        (``ModelIndex.interfaces``: prefect's ``db: PrefectDBInterface``): the mapped class
        ``Flow``, else None. ``var_types`` is what the function knows of its names' types (a
        parameter's annotation, ``db = Interface(...)``)."""
        if not (isinstance(expr, ir.Attribute) and isinstance(expr.value, ir.Name)) \
                or not self.models.interfaces or expr.value.id in ("self", "cls"):
            return None
        type_name = var_types.get(expr.value.id)
        qualified = self.qualify(type_name.strip("\"'")) if type_name else None
        found = self.models.through_interface(qualified, expr.attr) if qualified else None
        if found is None:
            # `db = provide_database_interface()`: the one interface that hands out that name.
            models = {i.model_qualname(expr.attr) for i in self.models.interfaces} - {None}
            if len(models) == 1:
                found = self.models.by_qualname(models.pop())  # type: ignore[arg-type]
        return found

    def model_of(self, expr: ir.Expr, var_types: Mapping[str, str] = {}) -> Optional[ModelFacts]:
        """The mapped class an expression names (``User``, ``models.User``, ``db.User`` of an
        interface object), or None."""
        key = key_of(expr)
        if key is not None:
            return self.resolve_model(key) or self.model_through_interface(expr, var_types)
        if isinstance(expr, ir.Const) and isinstance(expr.value, str):
            return self.resolve_model(expr.value)
        return None

    def annotation_model(self, text: str) -> Optional[Tuple[ModelFacts, bool]]:
        """The model an annotation names (``User``, ``Optional[User]``, ``list[User]``,
        ``Sequence["User"]``) and whether it is a collection of them, or None (a tuple of
        values is not one object)."""
        if re.match(r"\s*(?:typing\.)?[Tt]uple\b", text):
            return None
        for word in _NAMES.findall(text):
            model = self.resolve_model(word)
            if model is not None:
                before = text[:text.find(word)]
                return model, any(c in before for c in COLLECTIONS)
        return None

    def qualify(self, name: str) -> Optional[str]:
        """The qualified name of a module-level class or function or an imported name, else None."""
        head, _, rest = name.partition(".")
        if head in self.imports:
            base = self.imports[head]
        elif head in self.local_classes or head in self.local_defs:
            base = f"{self.module_name}.{head}"
        else:
            return None
        return f"{base}.{rest}" if rest else base

    def is_project_class(self, name: str) -> bool:
        """``name`` is a class of this project's own package (defined here, or imported from a
        module of the package this module is in): every mapped class of the project is in the
        model index, so one that is not there is no ORM object (a schema, a dataclass, a
        service). A class from outside the project may be a model the index cannot see."""
        name = name.strip().strip("\"'")
        head = name.partition(".")[0]
        if head in self.local_classes:
            return True
        qualified = self.qualify(name)
        top = self.module_name.partition(".")[0]
        return qualified is not None and "." in self.module_name \
            and qualified.partition(".")[0] == top and head in self.imports

    def resolve_schema(self, text: str):
        """The pydantic schema ``text`` names here (``list[...]``, ``Optional`` unwrapped), or None."""
        schemas = self.facts.schemas
        if schemas is None:
            return None
        for candidate in reversed(_NAMES.findall(text)):
            found = schemas.resolve(candidate.rsplit(".", 1)[-1], self.qualify(candidate))
            if found is not None:
                return found
        return None

    def is_sql_expression(self, expr: ir.Expr) -> bool:
        """``Model.col + 1``, ``func.now()``, ``text(...)``: a value the database computes."""
        for sub in walk(expr):
            if isinstance(sub, ir.Attribute) and isinstance(sub.value, ir.Name):
                if sub.value.id == "func":
                    return True
                # `Model.column + 1`, but not `Model.Status.ACTIVE` (a nested enum)
                model = self.resolve_model(sub.value.id)
                if model is not None and (model.column(sub.attr) is not None
                                          or model.expression(sub.attr) is not None):
                    return True
            elif isinstance(sub, ir.Call) and call_name(sub.func) in SQL_FUNCTIONS:
                return True
        return False

    def loader_options(self, expr: ir.Expr, model: ModelFacts) -> List[str]:
        """The attributes of ``model`` that the loader options in ``expr`` load: relationships
        (``selectinload(Model.rel)``...) and deferred columns (``undefer(Model.col)``)."""
        found: List[str] = []
        for sub in walk(expr):
            if not (isinstance(sub, ir.Call) and sub.args):
                continue
            option = call_name(sub.func)
            if option not in LOADER_OPTIONS:
                continue
            target = sub.args[0].value
            name = target.attr if isinstance(target, ir.Attribute) else (
                target.value if isinstance(target, ir.Const) and isinstance(target.value, str) else None)
            if name is None:
                continue
            if option == "undefer":
                column = model.column(name)
                if column is not None and column.deferred:
                    found.append(name)
            elif model.relationship(name):
                found.append(name)
        return found

    def suppressed(self, line: int, code: str) -> bool:
        """``# noqa``, ``# noqa: FG001`` or ``# flushguard: ignore`` on ``line`` covers ``code``."""
        if line <= 0 or line > len(self.lines):
            return False
        match = NOQA.search(self.lines[line - 1])
        if match is None:
            return False
        codes = match.group("codes")
        if codes is None:
            return True
        return code in re.split(r"[\s,]+", codes.upper())


def render(expr: ir.Expr) -> Optional[str]:
    """Source text for a simple expression (names, attributes, calls of such with literal or
    name arguments, literal subscripts), or None: how a session reached through a call
    (``self.uow().session``) is written back in a fix."""
    if isinstance(expr, ir.Name):
        return expr.id
    if isinstance(expr, ir.Attribute):
        if expr.text is not None:
            return expr.text
        base = render(expr.value)
        return f"{base}.{expr.attr}" if base is not None else None
    if isinstance(expr, ir.Const):
        return repr(expr.value)
    if isinstance(expr, ir.Call):
        func = render(expr.func)
        args: List[str] = []
        for arg in expr.args:
            value = render(arg.value)
            if func is None or value is None:
                return None
            args.append(f"{arg.star}{arg.keyword}={value}" if arg.keyword else f"{arg.star}{value}")
        return f"{func}({', '.join(args)})" if func is not None else None
    if isinstance(expr, ir.Subscript):
        base, index = render(expr.value), render(expr.index)
        return f"{base}[{index}]" if base is not None and index is not None else None
    return None


def position_of(expr: ir.Expr) -> Tuple[int, int]:
    """Where an expression starts (line, column); (0, 0) for one without a position."""
    if isinstance(expr, (ir.Name, ir.Attribute, ir.Call, ir.Formatted)):
        return (expr.line, expr.col)
    return (0, 0)

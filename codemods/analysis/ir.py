"""The intermediate representation: each function of a module as plain, picklable values.

The analysis never looks at a parser's tree. :mod:`codemods.analysis.lower` turns the
standard library's :mod:`ast` (whatever parser produced it, see :mod:`codemods.frontend`)
into these values once per file content; they are cached by the file's digest alone and
interpreted in every round, warm run and audit without parsing the text again.

An expression keeps what the interpreter asks of it and nothing else: names and attribute
chains (with their dotted text, the key a tracked object is bound to), calls with their
arguments in source order, the displays and comprehensions that build lists of objects,
the parts of f-strings, lambdas; every other expression is an :class:`Other` whose children
are evaluated in source order. A statement keeps its first line and whether a statement
can be inserted after it (a fix goes there). Positions are 1-based lines and columns in
characters, as findings report them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple, Union

# --------------------------------------------------------------------------
# Expressions
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Name:
    id: str
    line: int
    col: int


@dataclass(frozen=True, slots=True)
class Attribute:
    """``value.attr``; ``text`` is ``a.b.c`` when the whole chain is names, else None."""

    value: "Expr"
    attr: str
    line: int
    col: int
    text: Optional[str]


@dataclass(frozen=True, slots=True)
class Arg:
    """One argument of a call: ``keyword=value``, ``*value`` (star ``*``), ``**value``."""

    value: "Expr"
    keyword: Optional[str] = None
    star: str = ""


@dataclass(frozen=True, slots=True)
class Call:
    func: "Expr"
    #: In source order (positional and keyword arguments interleaved as written).
    args: Tuple[Arg, ...]
    line: int
    col: int


@dataclass(frozen=True, slots=True)
class Await:
    value: "Expr"



@dataclass(frozen=True, slots=True)
class Const:
    """A literal: ``None``, ``True``, a string, a number, ``...``."""

    value: object



@dataclass(frozen=True, slots=True)
class Display:
    """``[...]``, ``(...)`` or ``{...}`` (a set) with its elements."""

    kind: str  # "list", "tuple", "set"
    elements: Tuple["Expr", ...]



@dataclass(frozen=True, slots=True)
class Starred:
    """``*value`` in a display, a call or an assignment target."""

    value: "Expr"



@dataclass(frozen=True, slots=True)
class Subscript:
    value: "Expr"
    index: "Expr"



@dataclass(frozen=True, slots=True)
class Generator:
    """``for target in iter if cond...`` of a comprehension."""

    target: "Expr"
    iter: "Expr"
    conditions: Tuple["Expr", ...]


@dataclass(frozen=True, slots=True)
class Comprehension:
    kind: str  # "list", "set", "generator", "dict"
    #: The element (``key`` of a dict comprehension).
    element: "Expr"
    #: The value of a dict comprehension, else None.
    value: Optional["Expr"]
    generators: Tuple[Generator, ...]



@dataclass(frozen=True, slots=True)
class Lambda:
    body: "Expr"
    #: The names of its positional parameters (``o`` for ``lambda o: o.created_at``).
    params: Tuple[str, ...] = ()



@dataclass(frozen=True, slots=True)
class Formatted:
    """``{value}`` in an f-string: a read of ``value``, and a ``repr``/``str`` of it."""

    value: "Expr"
    line: int
    col: int


@dataclass(frozen=True, slots=True)
class Interpolation:
    """``{value}`` in a t-string: evaluated where the string is, never formatted."""

    value: "Expr"



@dataclass(frozen=True, slots=True)
class NamedExpr:
    """``target := value``."""

    target: "Expr"
    value: "Expr"



@dataclass(frozen=True, slots=True)
class Other:
    """Any other expression (operators, comparisons, dicts, ``x if c else y``, ...): only
    its children matter, evaluated in source order."""

    children: Tuple["Expr", ...]
    #: ``not name``: the one child is the name a test negates.
    negated: bool = False
    #: ``a and not b and c``: the names the ``and`` chain tests, each with the truth it needs
    #: (``(("a", True), ("b", False), ("c", True))``).
    conjuncts: Tuple[Tuple[str, bool], ...] = ()



Expr = Union[Name, Attribute, Call, Await, Const, Display, Starred, Subscript, Comprehension,
             Lambda, Formatted, Interpolation, NamedExpr, Other]


# --------------------------------------------------------------------------
# Statements
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExprStmt:
    value: Expr
    #: The statement's first and last lines.
    line: int
    end_line: int
    #: A statement can be inserted right after this one in its block: it has its lines to
    #: itself and sits in an indented block (not ``if x: stmt`` nor ``a; b``).
    insertable: bool


@dataclass(frozen=True, slots=True)
class Assign:
    targets: Tuple[Expr, ...]
    value: Expr
    line: int
    end_line: int
    insertable: bool


@dataclass(frozen=True, slots=True)
class AnnAssign:
    target: Expr
    #: Every name the annotation mentions (words of string annotations included).
    annotation_names: Tuple[str, ...]
    value: Optional[Expr]
    line: int
    end_line: int
    insertable: bool


@dataclass(frozen=True, slots=True)
class AugAssign:
    target: Expr
    value: Expr
    line: int
    end_line: int
    insertable: bool


@dataclass(frozen=True, slots=True)
class Return:
    value: Optional[Expr]
    line: int
    end_line: int
    insertable: bool
    #: Where the returned expression starts (line, column): a read by a response model is there.
    at: Tuple[int, int] = (0, 0)


@dataclass(frozen=True, slots=True)
class Raise:
    exc: Optional[Expr]
    line: int
    end_line: int
    insertable: bool


@dataclass(frozen=True, slots=True)
class Continue:
    line: int
    end_line: int
    insertable: bool


@dataclass(frozen=True, slots=True)
class Break:
    line: int
    end_line: int
    insertable: bool


@dataclass(frozen=True, slots=True)
class Delete:
    targets: Tuple[Expr, ...]
    line: int
    end_line: int
    insertable: bool


@dataclass(frozen=True, slots=True)
class Assert:
    test: Expr
    line: int
    end_line: int
    insertable: bool


@dataclass(frozen=True, slots=True)
class If:
    test: Expr
    body: "Block"
    #: ``elif`` is an ``else`` holding one :class:`If`.
    orelse: Optional["Block"]
    line: int
    end_line: int
    insertable: bool


@dataclass(frozen=True, slots=True)
class For:
    target: Expr
    iter: Expr
    body: "Block"
    orelse: Optional["Block"]
    line: int
    end_line: int
    insertable: bool


@dataclass(frozen=True, slots=True)
class While:
    test: Expr
    body: "Block"
    orelse: Optional["Block"]
    line: int
    end_line: int
    insertable: bool


@dataclass(frozen=True, slots=True)
class Try:
    body: "Block"
    handlers: Tuple["Block", ...]
    orelse: Optional["Block"]
    finalbody: Optional["Block"]
    line: int
    end_line: int
    insertable: bool
    #: Each handler's ``except`` clause as written (``except IntegrityError``) and its line.
    clauses: Tuple[Tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class WithItem:
    context: Expr
    #: The ``as`` target, if any.
    target: Optional[Expr]


@dataclass(frozen=True, slots=True)
class With:
    items: Tuple[WithItem, ...]
    body: "Block"
    line: int
    end_line: int
    insertable: bool


@dataclass(frozen=True, slots=True)
class Match:
    subject: Expr
    cases: Tuple["Block", ...]
    line: int
    end_line: int
    insertable: bool


@dataclass(frozen=True, slots=True)
class NestedDef:
    """A function defined inside the function: it reads the state at its definition.

    ``reads`` are the expressions its body evaluates (loads only), in source order.
    """

    name: str
    reads: Tuple[Expr, ...]
    line: int
    end_line: int
    insertable: bool


@dataclass(frozen=True, slots=True)
class Skipped:
    """A statement the analysis does not follow (``pass``, ``import``, ``class``...): kept so
    that a fix is placed after the statements that really follow a site."""

    line: int
    end_line: int
    insertable: bool


Stmt = Union[ExprStmt, Assign, AnnAssign, AugAssign, Return, Raise, Continue, Break, Delete,
             Assert, If, For, While, Try, With, Match, NestedDef, Skipped]


@dataclass(frozen=True, slots=True)
class Block:
    """The statements of one suite (statements the analysis ignores are left out)."""

    statements: Tuple[Stmt, ...]


# --------------------------------------------------------------------------
# Functions, classes, modules
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    #: ``posonly``, ``normal`` or ``kwonly`` (``*args``/``**kwargs`` are not kept).
    kind: str
    #: Every name the annotation mentions; None without an annotation.
    annotation_names: Optional[Tuple[str, ...]]
    #: ``Service`` for ``Service`` or ``Annotated[Service, Depends(...)]``.
    annotated_class: Optional[str]
    #: ``get_db`` for ``= Depends(get_db)`` or ``Annotated[..., Depends(get_db)]``.
    dependency: Optional[str] = None
    #: Whether its default is a true constant (``commit=True``); None: no constant default.
    default_truthy: Optional[bool] = None


@dataclass(frozen=True, slots=True)
class Route:
    """``@router.put("/grants/{id}", response_model=GrantOut)``."""

    method: str
    #: The decorator's receiver (``router``), whose ``APIRouter(prefix=...)`` starts the path.
    router: Optional[str]
    path: Optional[str]
    response_model: Optional[str]


@dataclass(frozen=True, slots=True)
class ClassInfo:
    """The class a method belongs to, as far as its body tells."""

    #: Dotted within the module (``Outer.Inner``); "" for a module-level function.
    name: str = ""
    #: Attributes annotated as sessions (``db: AsyncSession``, ``self.db = db`` of such a param).
    session_attrs: Tuple[str, ...] = ()
    #: ``self.grants = GrantService(db)`` / ``grants: GrantService`` → (("grants", "GrantService"),)
    attr_types: Tuple[Tuple[str, str], ...] = ()
    #: Its base classes as written, type arguments left out (``RepositoryBase[M]`` → ``RepositoryBase``).
    bases: Tuple[str, ...] = ()

    def attr_type(self, name: str) -> Optional[str]:
        for attr, type_name in self.attr_types:
            if attr == name:
                return type_name
        return None


@dataclass(frozen=True, slots=True)
class Function:
    """One function (``async def`` or ``def``), wherever it is nested. Its body is lowered on demand
    (:func:`codemods.analysis.lower.lower_body`): most functions are never interpreted."""

    #: Dotted within the module (``Service.update``, ``outer.inner``).
    qualname: str
    is_async: bool
    #: The ``def`` line, the last line, and the ``def``'s column (0: at the module's top).
    line: int
    end_line: int
    indent: int
    owner: ClassInfo
    params: Tuple[Param, ...]
    routes: Tuple[Route, ...]
    #: The return annotation's source text.
    returns: Optional[str]
    #: Its text holds a flush/commit/rollback/expire/begin call: a site can be in it.
    has_site: bool
    #: Every name its text calls (``self.svc.update(...)`` → ``update``; a superset: names in
    #: strings and comments count).
    calls: Tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Import:
    """``import a.b as c`` (names: ((``a.b``, ``c``),)) or ``from .m import x as y``."""

    module: Optional[str]
    names: Tuple[Tuple[str, Optional[str]], ...]
    #: ``from`` imports: the number of leading dots; -1 for a plain ``import``.
    level: int


@dataclass(frozen=True, slots=True)
class Module:
    """What the analysis knows of one module's text, whatever module name it gets."""

    imports: Tuple[Import, ...]
    #: Names of the module's top-level classes and functions.
    classes: Tuple[str, ...]
    functions: Tuple[str, ...]
    #: ``router = APIRouter(prefix="/grants")`` → (("router", "/grants"),)
    router_prefixes: Tuple[Tuple[str, str], ...]
    #: ``Service = Annotated[GrantService, Depends(...)]`` → (("Service", "GrantService"),)
    type_aliases: Tuple[Tuple[str, str], ...]
    #: Every function, however nested (``async`` or not).
    defs: Tuple[Function, ...]
    #: The annotated fields each class declares, in order (``("ItemOut", ("db_record",))``).
    class_fields: Tuple[Tuple[str, Tuple[str, ...]], ...] = ()
    #: Module-level instances of classes: ``organization = OrganizationService()`` →
    #: (("organization", "OrganizationService"),).
    instances: Tuple[Tuple[str, str], ...] = ()
    #: Every class (dotted within the module) and its bases as written.
    class_bases: Tuple[Tuple[str, Tuple[str, ...]], ...] = ()

    def router_prefix_map(self) -> Dict[str, str]:
        return dict(self.router_prefixes)

"""What the analysis knows at one program point: tracked objects, and why attributes are unloaded.

An :class:`Obj` is one ORM object (or every element of a tracked list) held by a variable;
a :class:`State` binds variable texts (``order``, ``self.org``) to objects, queries and
empty lists. :func:`join` merges the states of control-flow paths that meet: an attribute
unloaded on any path is unloaded after the join (a real path to a crash is a real bug).

How each field of :class:`Obj` is copied and joined is declared on the field itself
(``metadata={"join": ...}``), so a new field cannot be forgotten by the join.
"""

from __future__ import annotations

from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Set, Tuple, Union

from codemods.analysis import orm_rules
from codemods.types import Cause, ModelFacts, SiteKind


@dataclass(frozen=True)
class Reason:
    """Why one attribute is unloaded: the site that did it and the rule's cause."""

    site_id: int
    line: int
    kind: SiteKind
    session: str
    cause: Cause
    #: The function whose flush did it, when that is another function (a callee).
    origin: Optional[str] = None
    #: A refresh after the site loads it for good (False: something between the site and
    #: the read, a plain ``refresh()`` further on, unloads it again: no fix at the site).
    fixable: bool = True

    @property
    def code(self) -> str:
        return self.cause.code

    @property
    def why(self) -> str:
        return self.cause.why

    @property
    def possible(self) -> bool:
        return self.cause.possible

    def sort_key(self) -> Tuple[int, str, str]:
        return (self.line, self.cause.code, self.cause.why)


def _keep(a: object, b: object) -> object:
    return a


def _either(a: bool, b: bool) -> bool:
    return a or b


def _first(a: object, b: object) -> object:
    return a if a is not None else b


def _union(a: Set[str], b: Set[str]) -> Set[str]:
    return a | b


def _both(a: Set[str], b: Set[str]) -> Set[str]:
    return a & b


def _all(a: bool, b: bool) -> bool:
    return a and b


def _union_per_key(a: Dict[str, Set[Reason]], b: Dict[str, Set[Reason]]) -> Dict[str, Set[Reason]]:
    merged = {key: set(reasons) for key, reasons in a.items()}
    for key, reasons in b.items():
        merged.setdefault(key, set()).update(reasons)
    return merged


#: The join of two values of one field, by the name its metadata gives.
JOINS: Dict[str, Callable[..., object]] = {
    "keep": _keep, "either": _either, "all": _all, "first": _first, "union": _union, "both": _both,
    "union-per-key": _union_per_key,
}


def _join(how: str, **kwargs: object) -> object:
    return field(metadata={"join": how}, **kwargs)  # type: ignore[call-overload]


@dataclass
class Obj:
    """What is known about one ORM object (or every element of a tracked list)."""

    model: ModelFacts = _join("keep")
    origin: str = _join("keep")  # "new", "loaded", "param"
    ref: str = _join("keep")  # the model's name as this module writes it
    session: Optional[str] = _join("first", default=None)
    in_session: bool = _join("either", default=False)
    persistent: bool = _join("either", default=False)  # INSERTed (or loaded): refresh is allowed
    committed: bool = _join("keep", default=False)  # survives a later rollback as persistent
    home: Optional[str] = _join("keep", default=None)  # the variable a tracked list was bound to
    is_list: bool = _join("keep", default=False)
    order: int = _join("keep", default=0)  # when it joined the session, for the order of fixes
    given: Set[str] = _join("both", default_factory=set)
    sql_assigned: Set[str] = _join("union", default_factory=set)
    loaded_rels: Set[str] = _join("both", default_factory=set)
    #: Relationships the query that first loaded it named in options: a plain refresh loads them.
    remembered: Set[str] = _join("both", default_factory=set)
    #: False when only an annotation says what it is: which relationships are loaded is unknown.
    loads_known: bool = _join("all", default=True)
    dirty: bool = _join("either", default=False)
    rel_dirty: bool = _join("either", default=False)
    unloaded: Dict[str, Set[Reason]] = _join("union-per-key", default_factory=dict)
    #: What its query did not load that some path reaching here has not flushed since (the
    #: next flush is the site that leaves it unloaded on that path), though another path's
    #: flush already did: ``unloaded`` alone would make the next flush pass it by. Made by
    #: :func:`merge_into`; a flush blames these too.
    unblamed: Set[str] = _join("union", default_factory=set)
    #: Everything expired (commit, rollback, expire_all); ``reloaded`` since then. The two
    #: join together (:func:`_join_expiry`).
    expired: Set[Reason] = _join("expiry", default_factory=set)
    reloaded: Set[str] = _join("expiry", default_factory=set)
    children: List["Obj"] = _join("keep", default_factory=list)  # cascaded with this one
    sites: Set[int] = _join("union", default_factory=set)  # the sites it was in the session at
    #: Refreshed since the last site that touched it: every column (a plain refresh) or the
    #: names in ``refreshed_names``. A caller of a helper that ends so sees it reloaded.
    refreshed_all: bool = _join("all", default=False)
    refreshed_names: Set[str] = _join("both", default_factory=set)

    def copy(self, memo: Dict[int, "Obj"]) -> "Obj":
        """A copy sharing nothing mutable; ``memo`` keeps objects shared between bindings shared."""
        found = memo.get(id(self))
        if found is not None:
            return found
        clone = Obj.__new__(Obj)
        memo[id(self)] = clone
        for name, copy in _COPIES:
            setattr(clone, name, copy(getattr(self, name), memo))
        return clone

    def reasons_for(self, attr: str) -> Set[Reason]:
        reasons: Set[Reason] = set()
        if self.expired and attr not in self.reloaded:
            reasons |= self.expired
        reasons |= self.unloaded.get(attr, set())
        return reasons

    def mark_loaded(self, attr: str) -> None:
        self.unloaded.pop(attr, None)
        self.unblamed.discard(attr)
        if self.expired:
            self.reloaded.add(attr)

    def unload(self, attr: str, reason: Reason) -> None:
        self.unloaded.setdefault(attr, set()).add(reason)

    def expire_all(self, reason: Reason) -> None:
        """Every attribute expired (commit, rollback): what was unloaded or loaded no longer counts."""
        self.expired = {reason}
        self.reloaded = set()
        self.unloaded = {}
        self.unblamed = set()
        self.loaded_rels = set()
        self.touched()

    def touched(self) -> None:
        """A site acted on it: no refresh before counts any more."""
        self.refreshed_all = False
        self.refreshed_names = set()

    def all_reasons(self) -> Set[Reason]:
        reasons: Set[Reason] = set(self.expired)
        for found in self.unloaded.values():
            reasons |= found
        return reasons


def _copier(value: object) -> Callable[[object, Dict[int, Obj]], object]:
    if isinstance(value, set):
        return lambda v, memo: set(v)  # type: ignore[arg-type]
    if isinstance(value, dict):
        return lambda v, memo: {k: set(s) for k, s in v.items()}  # type: ignore[attr-defined]
    if isinstance(value, list):
        return lambda v, memo: [child.copy(memo) for child in v]  # type: ignore[attr-defined]
    return lambda v, memo: v


def _example(f: "Field[object]") -> object:
    """A value of the field's type (its default), to choose how to copy it."""
    return f.default_factory() if f.default_factory is not MISSING else f.default


_COPIES: Tuple[Tuple[str, Callable[[object, Dict[int, Obj]], object]], ...] = tuple(
    (f.name, _copier(_example(f))) for f in fields(Obj))
_FIELD_JOINS: Tuple[Tuple[str, Callable[..., object]], ...] = tuple(
    (f.name, JOINS[f.metadata["join"]]) for f in fields(Obj) if f.metadata["join"] != "expiry")


@dataclass(frozen=True)
class Query:
    """A ``select(Model)`` statement, or the result of executing one."""

    model: ModelFacts
    ref: str
    options: Tuple[str, ...] = ()
    session: Optional[str] = None
    executed: bool = False
    scalars: bool = False


class EmptyList:
    """``items = []``: a list that may be filled with ORM objects by ``append``."""


EMPTY_LIST = EmptyList()


@dataclass
class Opaque:
    """A value that may be an ORM object the analysis could not tie to a model (a call's
    result, an untyped parameter): never guessed, but a site whose later code uses it says so."""

    #: What it is, for the user: ``await self.get_group(...)``, ``an untyped parameter``.
    origin: str
    #: The sites it lived across.
    sites: Set[int] = field(default_factory=set)

    def copy(self) -> "Opaque":
        return Opaque(self.origin, set(self.sites))


@dataclass(frozen=True)
class TupleOf:
    """A tuple a project function returns: the values at the positions that are tracked."""

    items: Tuple[Tuple[int, "Value"], ...]


Value = Union[Obj, Query, EmptyList, Opaque, TupleOf]
#: A session effect on a path: (session, kind, the parameter test it is under, the ``except``
#: clause it is in).
Effect = Tuple[str, SiteKind, Optional[Tuple[str, bool]], Optional[str]]


class State:
    """Variable bindings at one program point, and the session effects on the path to it."""

    __slots__ = ("bindings", "effects")

    def __init__(self, bindings: Optional[Dict[str, Value]] = None,
                 effects: Optional[Set[Effect]] = None) -> None:
        self.bindings: Dict[str, Value] = bindings if bindings is not None else {}
        #: (session, kind) of every flush/commit/rollback on the path so far.
        self.effects: Set[Effect] = effects if effects is not None else set()

    def copy(self) -> "State":
        memo: Dict[int, Obj] = {}
        bindings: Dict[str, Value] = {}
        for key, value in self.bindings.items():
            kind = type(value)
            if kind is Obj:
                value = value.copy(memo)  # type: ignore[union-attr]
            elif kind is Opaque:
                value = value.copy()  # type: ignore[union-attr]
            bindings[key] = value
        return State(bindings, set(self.effects))

    def objects(self) -> List[Obj]:
        """Every tracked object (list elements included), in the order they joined the session."""
        seen: Dict[int, Obj] = {}
        for value in self.bindings.values():
            if type(value) is Obj:
                if value.children:
                    for obj in with_children(value):
                        seen.setdefault(id(obj), obj)
                else:
                    seen.setdefault(id(value), value)
        return sorted(seen.values(), key=_order)

    def key_of(self, obj: Obj) -> Optional[str]:
        for key, value in self.bindings.items():
            if value is obj:
                return key
        return None


def _order(obj: Obj) -> int:
    return obj.order


def with_children(obj: Obj) -> Iterator[Obj]:
    """``obj`` and every object cascaded with it, each once."""
    stack = [obj]
    seen: Set[int] = set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.extend(current.children)


def join(states: Sequence[Optional[State]]) -> Optional[State]:
    """The state after control flow merges (None: no path reaches it).

    A variable bound on one path only keeps that binding; bound to objects of one model,
    the objects merge; bound to different things on different paths, it is tracked no
    longer (never guess). ``items = []`` on one path and a filled list on the other is
    the filled list (a loop that ran).
    """
    live = [s for s in states if s is not None]
    if not live:
        return None
    if len(live) == 1:
        return live[0]
    result = live[0].copy()
    for other in live[1:]:
        result.effects |= other.effects
        merged: Dict[str, Value] = {}
        for key in set(result.bindings) | set(other.bindings):
            a = result.bindings.get(key)
            b = other.bindings.get(key)
            if a is None or b is None:
                merged[key] = a if a is not None else b  # type: ignore[assignment]
            elif isinstance(a, Obj) and isinstance(b, Obj) and a.model is b.model:
                merge_into(a, b)
                merged[key] = a
            elif isinstance(a, Query) and a == b:
                merged[key] = a
            elif isinstance(a, Opaque) and isinstance(b, Opaque):
                a.sites |= b.sites
                merged[key] = a
            elif isinstance(a, EmptyList) or isinstance(b, EmptyList):
                keep = b if isinstance(a, EmptyList) else a
                if isinstance(keep, EmptyList) or (isinstance(keep, Obj) and keep.is_list):
                    merged[key] = keep
        result.bindings = merged
    return result


def merge_into(a: Obj, b: Obj) -> None:
    """Join ``b``'s knowledge into ``a`` (the same object on two paths), field by field."""
    if a is b:
        return
    unblamed = _unblamed(a, b) | _unblamed(b, a)
    for name, how in _FIELD_JOINS:
        setattr(a, name, how(getattr(a, name), getattr(b, name)))
    a.unblamed |= unblamed
    _join_expiry(a, b)


def _unblamed(a: Obj, b: Obj) -> Set[str]:
    """What ``a``'s path has unloaded that ``b``'s query did not load either, though no flush
    on ``b``'s path has yet made it so: after the join the next flush leaves it unloaded on
    ``b``'s path, and is a site to fix as much as ``a``'s (one run fixes both paths)."""
    if b.origin != "loaded" or not a.unloaded:
        return set()
    pending = orm_rules.not_loaded_by_query(b.model, b.loaded_rels, b.unloaded, b.loads_known)
    return {attr for attr in pending if attr in a.unloaded}


def _join_expiry(a: Obj, b: Obj) -> None:
    """An attribute reloaded on one path only stays unloaded for the other path's expiry alone
    (not for the expiry its own path reloaded it after)."""
    if not b.expired:
        return
    if a.expired:
        for attr in a.reloaded - b.reloaded:
            a.unloaded.setdefault(attr, set()).update(b.expired)
        for attr in b.reloaded - a.reloaded:
            a.unloaded.setdefault(attr, set()).update(a.expired)
        a.reloaded |= b.reloaded
    else:
        a.reloaded = set(b.reloaded)
    a.expired |= b.expired

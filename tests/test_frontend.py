"""The front end gives every reader the standard library's tree, whichever parser read the source.

Where the running Python parses a source, the LibCST conversion (`codemods.frontend.from_cst`)
must give exactly `ast.parse`'s tree: `ast.dump(..., include_attributes=True)` equal, node
types, fields and positions (columns in UTF-8 bytes) included. That is proven on flushguard's
own files, on a sample of the running Python's standard library, on snippets for what neither
has, and on generated programs. The documented exceptions (from_cst's docstring) are pinned
here too:

- Python 3.12's empty `Constant('')` at the end of a format specification that ends with a
  replacement field (CPython gh-110309) is not reproduced: `expected_tree` removes it from
  the running 3.12's tree before comparing, and nothing else.
- Sources LibCST's parser rejects although Python reads them (`(x): int = 1`, a form feed in
  a block's indentation, `t"a" t"b"`) give None: test_libcst_s_known_gaps_are_not_converted
  pins them; the standard library sample may hold such files, and they are counted (at most
  3), never compared.
- On Python 3.14 an interpolation's `str` keeps comments written inside the interpolation;
  no snippet here has one (and only a 3.14 would compare it).

Where only LibCST parses a source (syntax newer than the running Python), the tree has the
shape from_cst's docstring promises, and `frontend.parse` returns it with `ast.parse` made to
refuse everything. Nothing here lets the converter reach `ast.parse`, `compile`, `eval` or
`ast.literal_eval`.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import difflib
import functools
import sys
import sysconfig
import textwrap
import warnings
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import hypothesmith
import libcst
import pytest
from hypothesis import HealthCheck, event, given, settings

from codemods import frontend
from codemods.frontend import from_cst, positions
from codemods.frontend.from_cst import convert_source
from frontend_snippets import SNIPPETS, snippet
from hypothesis_profiles import profile_settings

ROOT = Path(__file__).resolve().parent.parent
#: flushguard's own Python files that the identity test reads, folder by folder.
PROJECT_FOLDERS = ("snapshots", "tests/fixtures", "examples", "codemods", "benchmarks")
#: The standard library sample: every STDLIB_STEP-th file under STDLIB_MAX_BYTES, in path order.
STDLIB_STEP = 25
STDLIB_MAX_BYTES = 60_000

ON_312 = sys.version_info[:2] == (3, 12)
HAS_TYPE_PARAMS = hasattr(ast, "TypeVar")
HAS_TYPE_DEFAULTS = HAS_TYPE_PARAMS and "default_value" in ast.TypeVar._fields
HAS_TEMPLATES = hasattr(ast, "TemplateStr")
HAS_TRY_STAR = hasattr(ast, "TryStar")


# -- comparing trees ---------------------------------------------------------------------------


def dump(tree: Optional[ast.AST]) -> str:
    return "None" if tree is None else ast.dump(tree, include_attributes=True, indent=1)


def expected_tree(source: str) -> ast.Module:
    """`ast.parse(source)`, less the one documented difference (3.12's empty constant)."""
    tree = quiet_parse(source)
    if ON_312:
        for node in ast.walk(tree):
            if isinstance(node, ast.FormattedValue) and node.format_spec is not None:
                spec = node.format_spec
                spec.values = [v for v in spec.values
                               if not (isinstance(v, ast.Constant) and v.value == "")]
    return tree


def quiet_parse(source: str) -> ast.Module:
    """`ast.parse`, without the warnings it gives for invalid escapes (``"\\q"``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (DeprecationWarning, SyntaxWarning))
        return ast.parse(source)


def difference(source: str) -> Optional[str]:
    """None when the conversion of ``source`` is `ast.parse`'s tree, else the start of a diff."""
    want, got = dump(expected_tree(source)), dump(convert_source(source))
    if want == got:
        return None
    lines = difflib.unified_diff(want.splitlines(), got.splitlines(), "ast.parse", "from_cst",
                                 lineterm="", n=4)
    return "\n".join(list(lines)[:60])


def readable_by_libcst(source: str) -> bool:
    try:
        libcst.parse_module(source)
    except Exception:  # LibCST's parse errors, of several classes
        return False
    return True


# -- the corpus --------------------------------------------------------------------------------


def project_files(folder: str) -> List[Path]:
    return sorted(p for p in (ROOT / folder).rglob("*.py")
                  if not any(part.startswith(".") for part in p.relative_to(ROOT).parts))


@functools.lru_cache(maxsize=None)
def stdlib_sample() -> Tuple[Path, ...]:
    """Every STDLIB_STEP-th source file of the running Python's library (path order), small
    enough to keep the test quick, that the running Python parses."""
    library = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in library.rglob("*.py")
                   if "site-packages" not in p.parts and p.stat().st_size < STDLIB_MAX_BYTES)
    return tuple(files[STDLIB_STEP - 1::STDLIB_STEP])


def read(path: Path) -> Optional[str]:
    try:
        source = path.read_text(encoding="utf-8")
        quiet_parse(source)
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return None  # not Python the running interpreter reads (test data, other encodings)
    return source


def parsed_snippets() -> Dict[str, str]:
    """The snippets the running Python parses."""
    found = {}
    for name in SNIPPETS:
        try:
            quiet_parse(snippet(name))
        except SyntaxError:
            continue
        found[name] = snippet(name)
    return found


# -- exact where the running Python parses --------------------------------------------------


@pytest.mark.parametrize("folder", PROJECT_FOLDERS)
def test_conversion_is_ast_parse_on_flushguard_files(folder: str) -> None:
    files = project_files(folder)
    assert files, folder
    mismatches = {}
    for path in files:
        source = read(path)
        assert source is not None, path
        found = difference(source)
        if found is not None:
            mismatches[str(path.relative_to(ROOT))] = found
    assert not mismatches, "\n\n".join(f"{p}:\n{d}" for p, d in mismatches.items())


def test_conversion_is_ast_parse_on_the_standard_library() -> None:
    """A deterministic sample of the library (kept to about 20 s on one core); files LibCST
    cannot parse are the only ones left out, and there are few."""
    compared, unreadable, mismatches = 0, [], {}
    for path in stdlib_sample():
        source = read(path)
        if source is None:
            continue
        if not readable_by_libcst(source):
            unreadable.append(path.name)
            assert convert_source(source) is None
            continue
        compared += 1
        found = difference(source)
        if found is not None:
            mismatches[str(path)] = found
    assert not mismatches, "\n\n".join(f"{p}:\n{d}" for p, d in mismatches.items())
    assert compared >= 50 and len(unreadable) <= 3, (compared, unreadable)


@pytest.mark.parametrize("name", sorted(SNIPPETS))
def test_conversion_is_ast_parse_on_every_construct(name: str) -> None:
    source = snippet(name)
    try:
        quiet_parse(source)
    except SyntaxError:
        pytest.skip(f"Python {sys.version_info[:2]} does not parse the {name} snippet")
    assert difference(source) is None, difference(source)


def test_the_corpus_exercises_every_node_type_of_the_running_python() -> None:
    """Every expression, statement and pattern class (and the other located nodes) of the
    running Python occurs in the compared corpus, so that no missing conversion can hide."""
    wanted = {cls for base in (ast.expr, ast.stmt, ast.pattern, ast.excepthandler)
              for cls in base.__subclasses__()}
    wanted |= {ast.arguments, ast.arg, ast.keyword, ast.alias, ast.withitem, ast.match_case,
               ast.comprehension}
    if HAS_TYPE_PARAMS:
        wanted |= set(ast.type_param.__subclasses__())
    seen = set()
    sources = list(parsed_snippets().values())
    sources += [read(p) for folder in PROJECT_FOLDERS for p in project_files(folder)]
    sources += [read(p) for p in stdlib_sample()]
    for source in sources:
        if source is not None:
            seen |= {type(node) for node in ast.walk(quiet_parse(source))}
    assert {cls.__name__ for cls in wanted - seen} == set()


def test_the_fast_position_pass_gives_libcst_s_own_ranges() -> None:
    """The position pass of ours records what LibCST's PositionProvider does, node by node."""
    assert positions.FAST_PASS
    sources = [snippet(name) for name in SNIPPETS]
    sources += [path.read_text(encoding="utf-8") for path in project_files("codemods")[:8]]
    for source in sources:
        if readable_by_libcst(source):
            module = libcst.parse_module(source)
            fast, provided = positions.ranges(module), positions.ranges(module, fast=False)
            assert len(fast) == len(provided) > 10
            assert fast == provided


def test_the_conversion_by_libcst_s_position_provider_is_exact(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """What runs when LibCST's code generation is not where the fast pass expects it."""
    monkeypatch.setattr(positions, "FAST_PASS", False)
    for name, source in parsed_snippets().items():
        assert difference(source) is None, (name, difference(source))


# -- generated programs ------------------------------------------------------------------------

EXAMPLES_GRAMMAR = {"ci": 40, "nightly": 2_000}
EXAMPLES_NODE = {"ci": 10, "nightly": 300}


def _generated(source: str) -> None:
    try:
        quiet_parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        event("the running Python does not parse it")
        return
    if not readable_by_libcst(source):
        event("LibCST does not parse it")
        assert convert_source(source) is None
        return
    assert difference(source) is None, difference(source)


@profile_settings(EXAMPLES_GRAMMAR)
@given(hypothesmith.from_grammar())
def test_generated_programs_from_the_grammar_convert_exactly(source: str) -> None:
    _generated(source)


# hypothesmith's node strategy filters many of its own drafts on some Pythons (3.10).
@settings(profile_settings(EXAMPLES_NODE),
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(hypothesmith.from_node())
def test_generated_programs_from_libcst_nodes_convert_exactly(source: str) -> None:
    _generated(source)


# -- never the interpreter ---------------------------------------------------------------------


def test_the_conversion_never_asks_the_interpreter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every snippet (all literal kinds among them) converts to the same tree with the
    interpreter's parser and evaluators out of reach."""
    readable = {name: source for name, source in
                ((n, snippet(n)) for n in SNIPPETS) if readable_by_libcst(source)}
    before = {name: dump(convert_source(source)) for name, source in readable.items()}
    assert all(tree != "None" for tree in before.values()), before
    calls: List[str] = []

    def refused(*args, **kwargs):
        calls.append(repr(args[:1]))
        raise SyntaxError("refused")

    monkeypatch.setattr(ast, "parse", refused)
    monkeypatch.setattr(ast, "literal_eval", refused)
    for name in ("compile", "eval", "exec"):
        monkeypatch.setattr(builtins, name, refused)
    after = {name: dump(convert_source(source)) for name, source in readable.items()}
    monkeypatch.undo()
    assert calls == []
    assert after == before


# -- newer syntax ------------------------------------------------------------------------------


def newer(source: str, monkeypatch: pytest.MonkeyPatch) -> ast.Module:
    """``source`` read by `frontend.parse` with `ast.parse` refusing everything (as an older
    Python would refuse the syntax), after checking that `convert_source` gives that tree."""
    source = textwrap.dedent(source)
    converted = convert_source(source)
    assert converted is not None

    def refuse(*args, **kwargs):
        raise SyntaxError("invalid syntax", ("<unknown>", 1, 1, ""))

    monkeypatch.setattr(ast, "parse", refuse)
    tree = frontend.parse(source)
    monkeypatch.undo()
    assert dump(tree) == dump(converted)
    return tree


def located(node: ast.AST) -> Tuple[int, int, int, int]:
    return node.lineno, node.col_offset, node.end_lineno, node.end_col_offset


def test_type_parameters(monkeypatch: pytest.MonkeyPatch) -> None:
    tree = newer('''\
        def first[T](items: list[T]) -> T:
            return items[0]
        class Page[M: Base, *Ts, **P](Base):
            items: list[M]
        ''', monkeypatch)
    function, page = tree.body
    assert isinstance(function, ast.FunctionDef) and function.name == "first"
    assert [a.arg for a in function.args.args] == ["items"]
    assert located(function.body[0]) == (2, 4, 2, 19)
    assert isinstance(page, ast.ClassDef) and [b.id for b in page.bases] == ["Base"]
    assert located(page) == (3, 0, 4, 18)
    if HAS_TYPE_PARAMS:
        kinds = [(type(p).__name__, p.name) for p in page.type_params]
        assert kinds == [("TypeVar", "M"), ("TypeVarTuple", "Ts"), ("ParamSpec", "P")]
        assert page.type_params[0].bound.id == "Base"
        assert located(page.type_params[1]) == (3, 20, 3, 23)
    else:
        assert not hasattr(function, "type_params") and not hasattr(page, "type_params")


def test_type_parameter_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    tree = newer('''\
        class Page[M = User, *Ts = *tuple[int, ...], **P = [int, str]]:
            pass
        def first[T: int = int](items: list[T]) -> T:
            pass
        ''', monkeypatch)
    page, function = tree.body
    assert isinstance(page, ast.ClassDef) and isinstance(function, ast.FunctionDef)
    assert located(function) == (3, 0, 4, 8)
    if HAS_TYPE_DEFAULTS:
        assert page.type_params[0].default_value.id == "User"
        assert isinstance(page.type_params[1].default_value, ast.Starred)
        assert located(page.type_params[1].default_value) == (1, 27, 1, 43)
        assert isinstance(page.type_params[2].default_value, ast.List)
        assert function.type_params[0].bound.id == "int"
    elif HAS_TYPE_PARAMS:
        assert [p.name for p in page.type_params] == ["M", "Ts", "P"]
    else:
        assert not hasattr(page, "type_params")


def test_type_aliases(monkeypatch: pytest.MonkeyPatch) -> None:
    tree = newer('''\
        type Json[T] = dict[str, T] | list[T]
        def f():
            type Row = tuple[int, str]
        ''', monkeypatch)
    alias, function = tree.body
    inner = function.body[0]
    assert located(alias) == (1, 0, 1, 37) and located(inner) == (3, 4, 3, 30)
    if HAS_TYPE_PARAMS:
        assert isinstance(alias, ast.TypeAlias) and isinstance(inner, ast.TypeAlias)
        assert alias.name.id == "Json" and [p.name for p in alias.type_params] == ["T"]
    else:
        assert isinstance(alias, ast.Assign) and isinstance(inner, ast.Assign)
        (target,) = alias.targets
        assert target.id == "Json" and isinstance(target.ctx, ast.Store)
        assert located(target) == (1, 5, 1, 9)
    assert isinstance(alias.value, ast.BinOp) and inner.value.value.id == "tuple"


def test_except_without_parentheses(monkeypatch: pytest.MonkeyPatch) -> None:
    tree = newer('''\
        try:
            pass
        except ValueError, TypeError:
            pass
        try:
            pass
        except* KeyError, IndexError:
            pass
        ''', monkeypatch)
    plain, star = tree.body
    assert isinstance(plain, ast.Try)
    assert isinstance(star, ast.TryStar if HAS_TRY_STAR else ast.Try)
    for statement, names in ((plain, ["ValueError", "TypeError"]),
                             (star, ["KeyError", "IndexError"])):
        (handler,) = statement.handlers
        assert isinstance(handler.type, ast.Tuple) and isinstance(handler.type.ctx, ast.Load)
        assert [n.id for n in handler.type.elts] == names
    assert located(plain.handlers[0].type) == (3, 7, 3, 28)
    assert located(star.handlers[0].type) == (7, 8, 7, 28)


def test_t_strings(monkeypatch: pytest.MonkeyPatch) -> None:
    tree = newer('''\
        def label(user, width):
            return t"{user.email!r:>{width}} since {user.created_at}"
        ''', monkeypatch)
    string = tree.body[0].body[0].value
    parts = [type(p).__name__ for p in string.values]
    if HAS_TEMPLATES:
        assert isinstance(string, ast.TemplateStr)
        assert parts == ["Interpolation", "Constant", "Interpolation"]
        assert string.values[0].str == "user.email"
    else:
        assert isinstance(string, ast.JoinedStr)
        assert parts == ["FormattedValue", "Constant", "FormattedValue"]
    first, text, second = string.values
    assert text.value == " since " and first.conversion == ord("r")
    assert [type(v).__name__ for v in first.format_spec.values][0] == "Constant"
    assert first.format_spec.values[1].value.id == "width"
    read = second.value
    assert isinstance(read, ast.Attribute) and isinstance(read.ctx, ast.Load)
    assert (read.value.id, read.attr) == ("user", "created_at")
    assert located(read) == (2, 44, 2, 59)
    assert located(string) == (2, 11, 2, 61)


def test_f_strings_of_python_312(monkeypatch: pytest.MonkeyPatch) -> None:
    tree = newer('''\
        x = f"{"-".join([
            str(user.id),  # the key
            str(user.created_at),
        ])}" f"{f"{f"{user.email}"}"}" f"\\n{'\\\\'}"
        ''', monkeypatch)
    string = tree.body[0].value
    assert isinstance(string, ast.JoinedStr)
    reads = [(n.attr, located(n)) for n in ast.walk(string) if isinstance(n, ast.Attribute)]
    assert ("created_at", (3, 8, 3, 23)) in reads and ("id", (2, 8, 2, 15)) in reads
    assert ("email", (4, 14, 4, 24)) in reads
    constants = [n.value for n in ast.walk(string) if isinstance(n, ast.Constant)]
    assert "\n" in constants and "\\" in constants


def test_lazy_imports_and_unpacking_comprehensions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Python 3.15's ``lazy import`` is an import; ``{**d for d in ds}`` a dict comprehension
    without a key."""
    tree = newer('''\
        lazy import json
        lazy from app.models import User
        merged = {**d for d in ds}
        ''', monkeypatch)
    plain, from_, merged = tree.body
    assert isinstance(plain, ast.Import) and plain.names[0].name == "json"
    assert isinstance(from_, ast.ImportFrom) and from_.module == "app.models"
    assert located(plain) == (1, 0, 1, 16)
    assert isinstance(merged.value, ast.DictComp) and merged.value.key is None


# -- what is not read --------------------------------------------------------------------------


@pytest.mark.parametrize("source", [
    "x = (1,\n", "def f[T](:\n    pass\n", "x = t'{a' + 1\n", "match x:\n    case 1 2:\n"])
def test_parse_reports_python_s_own_error_for_what_neither_reads(source: str) -> None:
    try:
        ast.parse(source)
    except SyntaxError as exc:
        error = exc
    else:
        raise AssertionError("the running Python parses it")
    assert convert_source(source) is None
    with pytest.raises(frontend.ParseError) as raised:
        frontend.parse(source)
    assert (raised.value.line, raised.value.column) == (error.lineno, error.offset)
    assert raised.value.message == error.msg


@pytest.mark.parametrize("source", [
    "f() = 1\n", "x + 1 = 2\n", "del f()\n", "(a, b) += 1\n", 'x = "\\x4"\n', 'x = b"é"\n',
    'x = "a" b"b"\n', "x = 'a' t'{b}'\n", "x = '\\N{NO SUCH NAME}'\n",
])
def test_what_libcst_reads_but_no_python_would_is_not_converted(source: str) -> None:
    with pytest.raises(SyntaxError):
        ast.parse(source)
    assert convert_source(source) is None


def test_libcst_s_known_gaps_are_not_converted() -> None:
    """Python reads these; LibCST's parser does not (from_cst's docstring lists them)."""
    for source in ("(x): int = 1\n", "if x:\n    \x0cy = 2\n", 't"a" t"b"\n'):
        assert not readable_by_libcst(source), source
        assert convert_source(source) is None


# -- deep nesting --------------------------------------------------------------------------------

DEPTH = 199  # under files.MAX_BRACKET_DEPTH, and under CPython's own limit of 200


@pytest.mark.parametrize("kind,source", [
    ("lists", "x = " + "[" * DEPTH + "]" * DEPTH + "\n"),
    ("calls", "x = " + "f(" * DEPTH + ")" * DEPTH + "\n"),
    ("tuples", "x = " + "(1, " * DEPTH + ")" * DEPTH + "\n"),
    ("dicts", "x = " + "{1: " * DEPTH + "1" + "}" * DEPTH + "\n"),
    ("subscripts", "x = " + "a[" * DEPTH + "1" + "]" * DEPTH + "\n"),
    ("f-strings", "x = f'{" + "(" * (DEPTH - 2) + "1" + ")" * (DEPTH - 2) + "}'\n"),
    # Long chains nest too (left to right), not by brackets: more than Python's default
    # 1,000 frames, fewer than Python 3.12's fixed C recursion limit lets LibCST go.
    ("operators", "x = " + " + ".join(["a"] * 600) + "\n"),
    ("strings", "x = " + " ".join(['"a"'] * 600) + "\n"),
    ("elif", "if a:\n    pass\n" + "elif a:\n    pass\n" * 600),
])
def test_deep_but_legal_nesting_converts(kind: str, source: str) -> None:
    limit = sys.getrecursionlimit()
    tree = convert_source(source)
    assert sys.getrecursionlimit() == limit  # raised for the conversion only
    assert tree is not None
    assert same_tree(tree, ast.parse(source))


def test_same_tree_sees_a_value_and_a_column() -> None:
    assert same_tree(ast.parse("x = [1]"), ast.parse("x = [1]"))
    assert not same_tree(ast.parse("x = [1]"), ast.parse("x = [2]"))
    assert not same_tree(ast.parse("x = [1]"), ast.parse("x =[1]"))
    assert not same_tree(ast.parse("x = [1]"), ast.parse("x = [1, 1]"))


def same_tree(first: ast.AST, second: ast.AST) -> bool:
    """What comparing ``ast.dump(..., include_attributes=True)`` says, without recursion
    (ast.dump recurses, and a 600-deep tree is too deep for it on Python 3.12)."""
    pending: List[Tuple[object, object]] = [(first, second)]
    while pending:
        one, other = pending.pop()
        if type(one) is not type(other):
            return False
        if isinstance(one, list):
            if len(one) != len(other):
                return False
            pending += zip(one, other)
        elif isinstance(one, ast.AST):
            names = one._fields + one._attributes
            pending += [(getattr(one, n, None), getattr(other, n, None)) for n in names]
        elif one != other:
            return False
    return True


def test_nesting_too_deep_for_the_frames_allowed_gives_none(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A RecursionError in the conversion is None, not a crash (here the limit is not raised,
    and only about 200 frames are left)."""
    monkeypatch.setattr(from_cst, "RECURSION_LIMIT", 1)
    source = "x = " + "[" * DEPTH + "]" * DEPTH + "\n"
    with frames(len(stack()) + 200, exactly=True):
        assert convert_source(source) is None


def stack() -> List[object]:
    frame, frames_ = sys._getframe(), []
    while frame is not None:
        frames_.append(frame)
        frame = frame.f_back
    return frames_


@contextlib.contextmanager
def frames(limit: int, exactly: bool = False) -> Iterator[None]:
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(limit if exactly else max(limit, previous))
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)

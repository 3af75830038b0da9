"""The outline: only the functions that can matter are parsed, and nothing changes for it.

The scan that finds blocks must never take a line inside a string or brackets for a
statement; when it cannot be sure it gives up (the whole module is parsed).  The
analysis of an outline must equal the analysis of the whole module, fix included.
"""

from __future__ import annotations

import re
from pathlib import Path

import libcst
import pytest

from codemods import outline as outline_mod
from codemods.flush_refresh import ModuleAnalyzer, analyze_module
from codemods.model_index import build_model_index, scan_module
from codemods.types import Settings

SNAPSHOTS = Path(__file__).resolve().parent.parent / "snapshots"


def keep_marked(block: outline_mod.Block, text: str) -> bool:
    return "flush(" in text


def shape(text: str, classes: str = "members") -> str:
    found = outline_mod.outline(text, keep_marked, classes)
    assert found is not None
    assert len(found.text.splitlines()) == len(text.splitlines())
    return found.text


def test_stubs_keep_names_and_line_numbers() -> None:
    text = (
        "import x\n"
        "\n"
        "@decorator(\n"
        "    arg=1,\n"
        ")\n"
        "def helper(\n"
        "    a,\n"
        ") -> int:\n"
        "    return a\n"
        "\n"
        "\n"
        "class Service:\n"
        "    model = x.Model\n"
        "\n"
        "    def __init__(self, session):\n"
        "        self.session = session\n"
        "\n"
        "    async def plain(self):\n"
        "        return 1\n"
        "\n"
        "    async def saves(self, obj):\n"
        "        await self.session.flush()\n"
        "        return obj.id\n"
        "\n"
        "\n"
        "class Other:\n"
        "    def m(self):\n"
        "        pass\n"
    )
    assert shape(text) == (
        "import x\n"
        "\n"
        "\n"
        "\n"
        "\n"
        "def helper(): ...\n"
        "\n"
        "\n"
        "\n"
        "\n"
        "\n"
        "class Service:\n"
        "    model = x.Model\n"
        "\n"
        "    def __init__(self, session):\n"
        "        self.session = session\n"
        "\n"
        "    def plain(): ...\n"
        "\n"
        "\n"
        "    async def saves(self, obj):\n"
        "        await self.session.flush()\n"
        "        return obj.id\n"
        "\n"
        "\n"
        "class Other: ...\n"
        "\n"
        "\n"
    )


def test_lines_inside_strings_and_brackets_never_start_a_block() -> None:
    text = (
        "async def f(session):\n"
        "    source = '''\n"
        "def not_a_function():\n"
        "    pass\n"
        "'''\n"
        "    value = call(\n"
        "1, 2)\n"
        "    await session.flush()\n"
        "\n"
        "def g():\n"
        "    text = \"\"\"\n"
        "class NotAClass:\n"
        "\"\"\"  # still g\n"
        "    return text\n"
    )
    found = outline_mod.blocks(text)
    assert found is not None
    _, top = found
    assert [(b.name, b.start, b.end) for b in top] == [("f", 0, 9), ("g", 9, 14)]
    assert shape(text).splitlines()[9:] == ["def g(): ..."] + [""] * 4


def test_continuations_comments_and_odd_strings() -> None:
    text = (
        "x = 1 + \\\n"
        "def_not = 2\n"
        "# def commented():\n"
        "s = 'it''s' \"# not a comment\" f'{x!r}' rb'\\\\'\n"
        "def h():\n"
        "    return '''unterminated ' \" '''\n"
    )
    found = outline_mod.blocks(text)
    assert found is not None
    assert [(b.name, b.start, b.end) for b in found[1]] == [("h", 4, 6)]


@pytest.mark.parametrize("text", [
    "x = (\n",                       # an unclosed bracket
    "x = ]\n",                       # a closing bracket with none open
    "s = '''never closed\ndef f():\n    pass\n",
])
def test_unsure_scans_give_up(text: str) -> None:
    assert outline_mod.blocks(text) is None
    assert outline_mod.outline(text, keep_marked) is None


def test_crlf_tabs_and_no_final_newline_are_kept() -> None:
    text = "import x\r\n\r\ndef a():\r\n\treturn 1\r\n\r\nasync def b(s):\r\n\tawait s.flush()"
    out = shape(text)
    assert out == "import x\r\n\r\ndef a(): ...\r\n\r\n\r\nasync def b(s):\r\n\tawait s.flush()"
    assert libcst.parse_module(out).code == out


def test_classes_whole_and_fields() -> None:
    text = (
        "class A(Base):\n"
        "    id = 1\n"
        "    def m(self):\n"
        "        return 2\n"
        "def f():\n"
        "    return 3\n"
    )
    assert shape(text, "whole") == "class A(Base):\n    id = 1\n    def m(self):\n        return 2\n" \
                                   "def f(): ...\n\n"
    assert shape(text, "fields") == "class A(Base):\n    id = 1\n    def m(): ...\n\n" \
                                    "def f(): ...\n\n"


def test_verify_catches_a_function_hidden_from_the_parse() -> None:
    # A scan that took a string for code would count a function the parser never sees.
    text = "def f(): ...\nx = '''\ndef g(): ...\n'''\n"
    expected = outline_mod.Outline(text=text, functions=2, kept=4, total=4)
    assert not outline_mod.verify(expected, libcst.parse_module(text))
    assert outline_mod.verify(outline_mod.Outline(text=text, functions=1, kept=4, total=4),
                              libcst.parse_module(text))


def test_restore_puts_inserted_lines_back_into_the_original() -> None:
    original = "a\nBIG\nBODY\nc\n"
    outlined = "a\ndef big(): ...\n\nc\n"
    assert outline_mod.restore(original, outlined, "a\ndef big(): ...\n\nc\n    refresh\n") == \
        "a\nBIG\nBODY\nc\n    refresh\n"
    assert outline_mod.restore(original, outlined, "a\ninserted\ndef big(): ...\n\nc\n") == \
        "a\ninserted\nBIG\nBODY\nc\n"
    # A changed or removed line, or an inserted blank one, cannot be placed: None.
    assert outline_mod.restore(original, outlined, "A\ndef big(): ...\n\nc\n") is None
    assert outline_mod.restore(original, outlined, "a\ndef big(): ...\nc\n") is None
    assert outline_mod.restore(original, outlined, "a\n\ndef big(): ...\n\nc\n") is None


# -- the analysis of an outline equals the analysis of the whole module ----------------

#: Code that can hold nothing to find, woven between a case's statements so that its
#: outline leaves out a great deal.
PADDING = '''

def _pad_sync(value):
    """A docstring with code in it (def at a line start):
def looks_like_a_function():
    await session.commit()
"""
    return [
        value,
    ]


async def _pad_async(
    value: int,
) -> int:
    data = {"key": (value, [1, 2, 3])}
    return data["key"][0]


class _PadHelper:
    kind = "pad"

    def method(self):
        return self.kind

    async def other(self):
        return await _pad_async(1)

'''


def _cases():
    for case in sorted(SNAPSHOTS.iterdir()):
        inputs = case / "input"
        if inputs.is_dir():
            yield case.name


def _analyse_both(source: str, path: str, index, settings: Settings):
    outlined = analyze_module(source, path, index, settings)
    whole = analyze_module(source, path, index, settings, whole=True)
    return outlined, whole


@pytest.mark.parametrize("case", list(_cases()))
def test_outline_analysis_equals_whole_module_analysis(case: str) -> None:
    inputs = SNAPSHOTS / case / "input"
    sources = {p.relative_to(inputs).as_posix(): p.read_text(encoding="utf-8")
               for p in sorted(inputs.rglob("*.py"))}
    # Pad before every top-level statement that starts a function or class, and at the end.
    padded = {path: re.sub(r"(?m)^(?=(?:async def|def|class|@) ?)", PADDING.replace("\\", "\\\\"),
                           text) + PADDING for path, text in sources.items()}
    index = build_model_index([scan_module(text, path) for path, text in padded.items()])
    settings = Settings(backend="postgresql")
    used = 0
    for path, text in padded.items():
        outlined, whole = _analyse_both(text, path, index, settings)
        assert outlined == whole, path
        used += ModuleAnalyzer(text, path, index, settings, None).outline is not None
        if whole.changed:
            assert whole.new_source != text
    assert used, "no module of the case was outlined"


TRICKY = '''\
"""Docstring."""
import x  # comment
@decorator(
    1)
@other
class A(Base):
    # a comment at the start
    x: int = 1; y = 2

    def f(self, a,
          b):
        if a: return 1
        elif b:
            pass
        else:
            return (
    2)
        for i in a:
            continue
        else:
            pass
        while b: break
        try:
            s = """
not: a statement
"""
        except (ValueError,
                KeyError) as exc:
            raise
        except* OSError:
            pass
        finally:
            pass
        match a:
            case [1, 2]:
                pass
            case _:
                pass
        with open(x) as f, \\
                open(y) as g:
            pass
    def one_line(self): pass


class Tabbed:
\tdef tabbed(self):
\t\treturn 1
'''


@pytest.mark.parametrize("name", ["tricky", *(c for c in _cases())])
def test_statement_lines_equal_libcsts_positions(name: str) -> None:
    from libcst.metadata import MetadataWrapper, PositionProvider

    if name == "tricky":
        texts = [TRICKY.replace("except* OSError", "except OSError")]
    else:
        texts = [p.read_text(encoding="utf-8") for p in sorted((SNAPSHOTS / name / "input").rglob("*.py"))]
    checked = 0
    for text in texts:
        tree = libcst.parse_module(text)
        lines = outline_mod.statement_lines(tree, text=text)
        assert lines is not None, "the scan and the tree disagree"
        positions = MetadataWrapper(tree, unsafe_skip_copy=True).resolve(PositionProvider)
        for node in positions:
            if id(node) in lines:
                pos = positions[node].start
                assert lines[id(node)] == (pos.line, pos.column + 1), libcst.Module([]).code_for_node(node)
                checked += 1
    assert checked > 3


def test_positions_within_a_statement_equal_libcsts() -> None:
    from libcst.metadata import MetadataWrapper, PositionProvider

    text = TRICKY.replace("except* OSError", "except OSError") + (
        "\n\nasync def g(session, user):\n"
        "\tif user.a and (\n"
        "\t\tuser.b or\n"
        "  user.c):\n"
        "\t\treturn {'x': user.d,\n"
        "\t\t        'y': f'{user.e}'}\n"
    )
    analyzer = ModuleAnalyzer(text, "m.py", build_model_index([]), Settings(), "m", whole=True)
    positions = MetadataWrapper(analyzer.tree, unsafe_skip_copy=True).resolve(PositionProvider)
    statements = [n for n in positions if isinstance(n, libcst.BaseStatement)]
    checked = 0
    for stmt in statements:
        for node in _walk_expressions(stmt):
            expected = positions[node].start
            assert analyzer._positions.within(node, stmt) == (expected.line, expected.column + 1)
            checked += 1
    assert checked > 100


def _walk_expressions(node):
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, (libcst.BaseExpression, libcst.Attribute)):
            yield current
        stack.extend(current.children)


@pytest.mark.parametrize("code", ["a", "a.b.c", "(a).b", "a . b", "a.\\\n  b", "(a.b)", "f(x).y", "a[0].b"])
def test_plain_text_equals_the_generated_code(code: str) -> None:
    from codemods.flush_refresh import _plain_text

    node = libcst.parse_expression(code)
    plain = _plain_text(node)
    assert plain is None or plain == libcst.Module([]).code_for_node(node)
    assert (plain is not None) == (code in ("a", "a.b.c"))


@pytest.mark.parametrize("case", list(_cases()))
def test_a_large_model_module_read_in_batches_says_the_same(case: str, monkeypatch) -> None:
    from codemods import model_index

    for path in sorted((SNAPSHOTS / case / "input").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if not model_index.may_define_models(text.encode()):
            continue
        whole = model_index.scan_module(text, path.name)
        monkeypatch.setattr(model_index, "BATCH_CHARACTERS", 150)
        pieces = outline_mod.batches(text, model_index._tells_about_models, 150)
        batched = model_index.scan_module(text, path.name)
        monkeypatch.undo()
        assert batched == whole
        if pieces is not None and text.count("\nclass ") > 2:
            assert len(pieces) > 1

"""What functions read of their parameters: the summaries and their closure over the project."""

from __future__ import annotations

import ast
import textwrap

from codemods.analysis.lower import Bodies, lower_module
from codemods.analysis.names import Names
from codemods.analysis.summaries import close, summarise
from codemods.model_index import build_model_index
from codemods.types import CallFacts, ParamSummary, ParamUse

SOURCE = textwrap.dedent(
    """\
    from app.other import elsewhere


    def direct(obj, *, flag=False):
        x = obj
        for item in obj.children:
            item.name
        return x.title, obj.created_at


    def passes(first, second):
        direct(second)
        elsewhere(target=first)
        first.value = 1


    def refreshed(obj, session):
        obj.before
        session.refresh(obj, ["after"])
        obj.after


    def over_a_list(rows):
        return [r.updated_at for r in rows] + [s.name for s in sorted(rows)]


    class Service:
        def method(self, obj):
            return self._helper(obj)

        def _helper(self, obj):
            return obj.helper_read


    class View:
        def __init__(self, record, label):
            self.record = record
            self.label = label

        def render(self):
            return self.record.shown, self.label


    class Fields:
        first: int
        record: object

        @property
        def stamp(self):
            return self.record.stamp
    """
)


def summaries(*wanted: str) -> dict:
    tree = ast.parse(SOURCE)
    module = lower_module(tree, SOURCE)
    names = Names(module, "app.mod", "app/mod.py", build_model_index([]), CallFacts(),
                  SOURCE.splitlines())
    found = summarise(module, Bodies(SOURCE), names, "app.mod", "app/mod.py",
                      [f"app.mod.{w}" for w in wanted])
    return {s.function.rpartition(".")[2]: {p.name: p for p in s.params} for s in found}


def test_reads_through_aliases_and_loops_but_not_writes_or_after_a_refresh() -> None:
    found = summaries("direct", "passes", "refreshed", "over_a_list")
    assert {a for a, _, _ in found["direct"]["obj"].reads} == {"children", "title", "created_at"}
    assert found["direct"]["flag"].index is None and found["direct"]["obj"].index == 0
    assert found["passes"]["first"].reads == ()  # `first.value = 1` writes
    assert [(c, i, k) for c, i, k, _ in found["passes"]["second"].passes] == [("app.mod.direct", 0, None)]
    assert [(c, i, k) for c, i, k, _ in found["passes"]["first"].passes] == [
        ("app.other.elsewhere", None, "target")]
    assert {a for a, _, _ in found["refreshed"]["obj"].reads} == {"before"}
    assert {a for a, _, _ in found["over_a_list"]["rows"].reads} == {"updated_at", "name"}


def test_methods_and_classes_are_summarised_through_self_and_their_fields() -> None:
    found = summaries("Service.method", "View", "Fields")
    assert found["method"]["obj"].passes[0][:3] == ("app.mod.Service._helper", 0, None)
    assert found["View"]["record"].reads == (("shown", 41, "app.mod.View.render"),)
    assert found["View"]["label"].reads == ()
    assert (found["Fields"]["record"].index, found["Fields"]["record"].reads) == (
        1, (("stamp", 50, "app.mod.Fields.stamp"),))


def test_the_closure_follows_passes_ends_cycles_and_names_what_is_missing() -> None:
    a = ParamSummary("m.a", "m.py", (ParamUse(0, "x", (("one", 2, ""),), (("m.b", 0, None, 3),)),))
    b = ParamSummary("m.b", "m.py", (ParamUse(0, "y", (("two", 7, ""),),
                                              (("m.a", None, "x", 8), ("m.gone", 0, None, 9))),))
    closed, missing = close({"m.a": a, "m.b": b})
    assert closed["m.a"][0].reads == (("one", "m.a", "m.py", 2), ("two", "m.b", "m.py", 7))
    assert closed["m.b"][0].reads == (("one", "m.a", "m.py", 2), ("two", "m.b", "m.py", 7))
    assert missing == {"m.gone"}

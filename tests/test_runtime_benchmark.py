"""benchmarks/runtime_overhead.py runs its workload in every mode and prints its three tables.

No test asserts how fast anything is (speed is what the script measures); this one pins that the
script still works against the runtime it measures: the modes, the listener timing (which wraps
the recorder's listeners) and the alternation, with every measurement in its JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "runtime_overhead.py"


def test_runtime_overhead_script_measures_every_mode(tmp_path: Path) -> None:
    result_file = tmp_path / "overhead.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--rounds", "1", "--requests", "3", "--warmup", "1",
         "--pairs", "2", "--block", "2", "--json", str(result_file)],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert done.returncode == 0, done.stderr
    output = done.stdout
    for row in ("| baseline |", "| off |", "| on |", "Inside the recording's listeners",
                "recording off and on in turn", "| CPU |"):
        assert row in output, output

    results = json.loads(result_file.read_text())
    for mode in ("baseline", "off", "on"):
        (run,) = results[mode]
        assert run["requests"] == 3 and run["flushes"] == 9 and run["wall"] > 0
    (timed,) = results["timed"]
    assert {"before_flush", "expire", "pending_to_persistent"} <= set(timed["listeners"])
    assert all(seconds > 0 for seconds in timed["listeners"].values())
    blocks = results["alternating"]["blocks"]
    assert len(blocks) == 4 and {b["recording"] for b in blocks} == {True, False}

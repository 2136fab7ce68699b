"""How long `notes-platform review` takes on a 5,000-step preview (the issue's target: under 2 s).

A figure to read, not a timed test: the machine's speed drifts. The preview is generated from the
committed prod plan: every resource's inputs touched, copies of the plan's resources until there
are 5,000 steps, so every rule runs over realistic inputs (task definitions, policies, WAF rules).
Run: ``.venv/bin/python bench/review_speed.py``.
"""

from __future__ import annotations

import copy
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from notes_platform.review.preview import read_preview  # noqa: E402
from notes_platform.review.render import markdown, terminal  # noqa: E402
from notes_platform.review.report import Report  # noqa: E402
from notes_platform.review.rules import counts, review  # noqa: E402
from notes_platform.review.synth import preview_document  # noqa: E402

STEPS = 5000
RUNS = 5


def generated_preview() -> dict[str, object]:
    plan = json.loads((ROOT / "tests" / "snapshots" / "prod.json").read_text())
    old, new = {"resources": []}, {"resources": []}
    copies = 0
    while len(new["resources"]) < STEPS:
        for resource in plan["resources"]:
            if len(new["resources"]) >= STEPS:
                break
            before = copy.deepcopy(resource)
            before["urn"] = f"{resource['urn']}-{copies}"
            after = copy.deepcopy(before)
            after["inputs"]["tags"] = {"Copy": str(copies)}
            if resource["type"] == "aws:cloudwatch/metricAlarm:MetricAlarm":
                after["inputs"]["threshold"] = 1
            old["resources"].append(before)
            new["resources"].append(after)
        copies += 1
    return preview_document(old, new)


def main() -> None:
    document = generated_preview()
    assert len(document["steps"]) == STEPS, len(document["steps"])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "preview.json"
        path.write_text(json.dumps(document))
        comment = Path(tmp) / "comment.md"
        command = [
            sys.executable,
            "-m",
            "notes_platform.cli",
            "review",
            str(path),
            "--quiet",
            "--markdown",
            str(comment),
        ]
        walls = []
        for _ in range(RUNS + 1):  # the first run warms the page cache and is dropped
            started = time.perf_counter()
            subprocess.run(command, cwd=ROOT, check=False, capture_output=True)
            walls.append(time.perf_counter() - started)
        size_mb = path.stat().st_size / 1e6
        own = []
        for _ in range(RUNS):
            started = time.perf_counter()
            change = read_preview(str(path))
            report = Report(change=change, findings=review(change.steps), counts=counts(change.steps))
            markdown([report])
            terminal([report])
            own.append(time.perf_counter() - started)
        print(
            f"review of a {STEPS}-step preview ({size_mb:.1f} MB): "
            f"median wall {statistics.median(walls[1:]):.2f} s "
            f"over {RUNS} runs (min {min(walls[1:]):.2f} s); comment {len(comment.read_text()):,} characters"
        )
        print(
            f"of which reading, rules and rendering (in process, no cost model or picture): "
            f"median {statistics.median(own):.2f} s"
        )


if __name__ == "__main__":
    main()

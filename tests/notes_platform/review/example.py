"""`make review-example`: rewrite the generated fixture and the README's example comment."""

from __future__ import annotations

import json

from stacks.config import ROOT
from tests.notes_platform.review import scenarios
from tests.notes_platform.review.test_render import README_END, README_START, readme_block


def main() -> None:
    scenarios.RISKY_FIXTURE.write_text(
        json.dumps(scenarios.preview(scenarios.risky), indent=2, sort_keys=True) + "\n"
    )
    readme = ROOT / "README.md"
    text = readme.read_text()
    start, end = text.index(README_START), text.index(README_END) + len(README_END)
    readme.write_text(text[:start] + readme_block() + text[end:])


if __name__ == "__main__":
    main()

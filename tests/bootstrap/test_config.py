"""The bootstrap stack file's schema: a bad value stops the program naming the file and the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stacks.bootstrap.config import (
    PROJECT,
    BootstrapConfigError,
    load,
    read_stack_file,
)


def _values(**overrides: Any) -> dict[str, Any]:
    values = read_stack_file("bootstrap")
    for key, value in overrides.items():
        full = key if ":" in key else f"{PROJECT}:{key}"
        if value is None:
            values.pop(full, None)
        else:
            values[full] = value
    return values


def test_the_committed_stack_file_loads() -> None:
    # GIVEN bootstrap/Pulumi.bootstrap.yaml WHEN it is validated
    config = load(_values(), "bootstrap")
    # THEN both environments get a deploy role and prod may read staging's state
    assert config.environments == ("staging", "prod")
    assert config.state_readers == {"prod": ["staging"]}
    assert config.github_repository == "example-org/notes-platform"


def test_values_as_the_engine_passes_them_load() -> None:
    # GIVEN lists and maps as JSON strings (the engine hands every value to a program as a string)
    config = load(_values(environments='["staging"]', stateReaders="{}", previewBranches="[]"), "bootstrap")
    # THEN they parse to the same types
    assert config.environments == ("staging",)
    assert config.preview_branches == ()


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        # A wildcard owner or repository would let other repositories' workflows in.
        ({"githubRepository": "example-org/*"}, f"{PROJECT}:githubRepository: expected OWNER/REPO"),
        ({"githubRepository": None}, f"{PROJECT}:githubRepository: required key is missing"),
        (
            {"stateBucketName": "notes-staging-state"},
            f"{PROJECT}:stateBucketName: must not start with notes-staging-",
        ),
        ({"stateBucketName": "Not_A_Bucket"}, f"{PROJECT}:stateBucketName: String should match pattern"),
        ({"stateReaders": {"prod": ["qa"]}}, f"{PROJECT}:stateReaders: prod reads 'qa'"),
        ({"environments": ["staging", "staging"]}, f"{PROJECT}:environments: expected distinct"),
        ({"githubRepo": "x/y"}, f"{PROJECT}:githubRepo: unknown key"),
        ({"aws:region": "Europe"}, "aws:region: String should match pattern"),
    ],
)
def test_bad_values_are_refused_naming_the_file_and_key(override: dict[str, Any], expected: str) -> None:
    # GIVEN the committed stack file with one planted mistake
    # WHEN it is validated
    with pytest.raises(BootstrapConfigError) as raised:
        load(_values(**override), "bootstrap")
    # THEN the message names the file and the key
    assert "bootstrap/Pulumi.bootstrap.yaml: " in str(raised.value)
    assert expected in str(raised.value)


def test_a_missing_stack_file_names_the_existing_ones(tmp_path: Path) -> None:
    # GIVEN a folder with one stack file WHEN another stack is asked for
    (tmp_path / "Pulumi.bootstrap.yaml").write_text("config: {}\n")
    with pytest.raises(
        BootstrapConfigError, match=r"Pulumi\.other\.yaml: no such stack file \(stacks: bootstrap\)"
    ):
        read_stack_file("other", tmp_path)

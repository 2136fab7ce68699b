"""ServiceImage under mocks: the repository's guarantees, and build-or-promote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pytest

from infra.image import ServiceImage, ServiceImageArgs, build_tag, context_digest
from notes_platform.graph.mocks import ACCOUNT_ID
from stacks.config import ROOT
from stacks.settings import image_tag
from tests.infra.harness import Graph, run
from tests.type_tokens import ECR_LIFECYCLE_POLICY, ECR_REPOSITORY, IMAGE_BUILD

PROMOTED = "sha256:" + "ab" * 32
KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT_ID}:key/ecr"
URL = f"{ACCOUNT_ID}.dkr.ecr.eu-west-1.amazonaws.com/staging/notes-api"


def args(**overrides: Any) -> ServiceImageArgs:
    values: dict[str, Any] = {
        "environment": "staging",
        "repository_name": "notes-api",
        "kms_key_arn": KEY,
        "keep_images": 12,
        "context_path": str(ROOT / "app"),
        "tag": "0123456789ab-3f2a9c1d0e4b",
        **overrides,
    }
    return ServiceImageArgs(**values)


def program(image_args: ServiceImageArgs) -> Graph:
    def build() -> pulumi.Output[Any]:
        image = ServiceImage("staging-image", image_args)
        return pulumi.Output.all(url=image.repository_url, digest=image.digest, ref=image.image_ref)

    return run(build)


@pytest.fixture(scope="module")
def built() -> Graph:
    return program(args())


@pytest.fixture(scope="module")
def promoted() -> Graph:
    return program(args(environment="prod", build=False, digest=PROMOTED))


def test_repository_is_immutable_scanned_and_kms_encrypted(built: Graph) -> None:
    # GIVEN the default image args / WHEN the component runs
    repo = built.one(ECR_REPOSITORY)
    # THEN tags cannot move, pushes are scanned, layers use the ECR key, deletion keeps images
    inputs = repo.inputs
    assert inputs["imageTagMutability"] == "IMMUTABLE", repo.urn
    assert inputs["imageScanningConfiguration"] == {"scanOnPush": True}, repo.urn
    assert inputs["encryptionConfigurations"] == [{"encryptionType": "KMS", "kmsKey": KEY}], repo.urn
    assert inputs["forceDelete"] is False, repo.urn
    assert inputs["name"] == "staging/notes-api", f"{repo.urn}: name carries the environment"


def test_lifecycle_policy_keeps_the_configured_number(built: Graph) -> None:
    # GIVEN keep_images=12
    policy = built.one(ECR_LIFECYCLE_POLICY)
    # WHEN its JSON is read
    rules = json.loads(policy.inputs["policy"])["rules"]
    # THEN one rule expires everything past the newest 12, tagged or not
    assert len(rules) == 1, policy.urn
    assert rules[0]["selection"] == {
        "tagStatus": "any",
        "countType": "imageCountMoreThan",
        "countNumber": 12,
    }, policy.urn
    assert rules[0]["action"] == {"type": "expire"}, policy.urn
    assert policy.inputs["repository"] == "staging/notes-api", policy.urn


def test_every_child_is_parented_to_the_component(built: Graph) -> None:
    component = built.one("notes:infra:ServiceImage")
    for resource in built.custom():
        assert resource.parent == component.urn, f"{resource.urn} is not a child of {component.urn}"
        assert resource.name.startswith("staging-image-"), resource.urn


def test_without_a_digest_one_build_is_pushed_tagged_with_its_content_tag(built: Graph) -> None:
    # GIVEN no digest / WHEN the component runs
    image = built.one(IMAGE_BUILD)
    inputs = image.inputs
    # THEN one build is pushed to the repository, with one tag: revision and context digest
    assert inputs["push"] is True, image.urn
    assert inputs["tags"] == [f"{URL}:0123456789ab-3f2a9c1d0e4b"], image.urn
    assert inputs["platforms"] == ["linux/amd64"], image.urn
    assert inputs["context"] == {"location": str(ROOT / "app")}, image.urn
    assert inputs["dockerfile"] == {"location": str(ROOT / "app" / "Dockerfile")}, image.urn
    assert "buildArgs" not in inputs, f"{image.urn}: BASE_IMAGE stays the Dockerfile's default"
    # AND the registry login uses the ECR token, its password kept secret
    registry = inputs["registries"][0]
    assert registry["address"] == f"{ACCOUNT_ID}.dkr.ecr.eu-west-1.amazonaws.com", image.urn
    assert registry["username"] == "AWS", image.urn
    assert registry["password"] == "[secret]", image.urn


def test_a_built_image_is_deployed_by_digest(built: Graph) -> None:
    result = built.result
    # THEN the reference is repository@digest, never a tag
    assert result["digest"].startswith("sha256:"), result
    assert result["ref"] == f"{URL}@{result['digest']}", result
    assert ":0123456789ab" not in result["ref"], result


def test_with_a_digest_nothing_is_built(promoted: Graph) -> None:
    # GIVEN a digest promoted from staging / WHEN the component runs
    # THEN no build is registered
    assert promoted.of_type(IMAGE_BUILD) == [], [r.urn for r in promoted.of_type(IMAGE_BUILD)]
    # AND the service runs exactly that digest from this environment's repository
    prod_url = f"{ACCOUNT_ID}.dkr.ecr.eu-west-1.amazonaws.com/prod/notes-api"
    assert promoted.result == {"url": prod_url, "digest": PROMOTED, "ref": f"{prod_url}@{PROMOTED}"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"build": False, "digest": "sha256:short"}, "digest must look like"),
        ({"build": False, "digest": "latest"}, "digest must look like"),
        ({"digest": PROMOTED}, "digest deploys a promoted image: set build=False"),
        ({"keep_images": 0}, "keep_images must be at least 1"),
        ({"tag": "not a tag"}, "is not <revision>-<12 hex of the context digest>"),
        # A bare revision is the planted mistake: rebuilt from a changed tree it repeats.
        ({"tag": "0123456789ab"}, "could be pushed twice for different builds"),
        ({"tag": "0123456789ab-dirty"}, "could be pushed twice for different builds"),
        ({"context_path": str(ROOT / "infra")}, "has no Dockerfile"),
    ],
)
def test_impossible_args_fail_in_the_constructor(overrides: dict[str, Any], message: str) -> None:
    # GIVEN args the component cannot honour / WHEN it is constructed / THEN it says what to change
    with pytest.raises(ValueError, match=message):
        ServiceImage("bad-image", args(**overrides))


def _context(root: Path, files: dict[str, bytes]) -> Path:
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    return root


def test_two_contexts_of_one_revision_never_share_a_tag(tmp_path: Path) -> None:
    # GIVEN one revision built from two working trees that differ by one byte
    first = _context(tmp_path / "a", {"Dockerfile": b"FROM x\n", "notes_api/main.py": b"x = 1\n"})
    second = _context(tmp_path / "b", {"Dockerfile": b"FROM x\n", "notes_api/main.py": b"x = 2\n"})
    # WHEN each is tagged
    tags = build_tag("0123456789ab-dirty", first), build_tag("0123456789ab-dirty", second)
    # THEN the tags differ (ECR would refuse the second push of one tag), and each is one the
    # component accepts
    assert tags[0] != tags[1]
    for tag in tags:
        assert tag.startswith("0123456789ab-dirty-") and len(tag.rsplit("-", 1)[1]) == 12, tag


def test_the_same_context_gets_the_same_tag_and_byte_code_does_not_count(tmp_path: Path) -> None:
    # GIVEN a context, then the same context after tests left byte code in it
    context = _context(tmp_path / "app", {"Dockerfile": b"FROM x\n", "notes_api/main.py": b"x = 1\n"})
    before = context_digest(context)
    _context(context, {"notes_api/__pycache__/main.cpython-311.pyc": b"\x00", "notes_api/x.pyc": b"\x01"})
    # THEN the digest is unchanged: an unchanged tree neither rebuilds nor pushes a new tag
    assert context_digest(context) == before
    # AND renaming a file changes it even when the bytes stay the same
    (context / "notes_api/main.py").rename(context / "notes_api/app.py")
    assert context_digest(context) != before


def test_the_tag_the_stack_computes_is_a_content_tag(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN no pinned tag (the snapshots pin one)
    monkeypatch.delenv("NOTES_PLATFORM_IMAGE_TAG", raising=False)
    # WHEN the stack computes the tag of the real app/ context
    tag = image_tag(ROOT / "app")
    # THEN it ends in that context's digest, and the component accepts it
    assert tag.endswith("-" + context_digest(ROOT / "app")[:12]), tag
    ServiceImage("content-tag", args(tag=tag))


def test_a_promote_only_stack_without_a_digest_has_an_empty_repository_and_no_image() -> None:
    # GIVEN prod's first deploy: it never builds, and nothing has been promoted yet
    def first_deploy() -> pulumi.Output[Any]:
        image = ServiceImage("prod-image", args(environment="prod", build=False))
        assert image.digest is None and image.image_ref is None and image.image is None
        return pulumi.Output.all(url=image.repository_url)

    graph = run(first_deploy)
    # THEN the repository and its lifecycle exist, and nothing is built or pushed
    assert {r.type for r in graph.custom()} == {ECR_REPOSITORY, ECR_LIFECYCLE_POLICY}

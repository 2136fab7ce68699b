"""The service's container image: its ECR repository, and either a build pushed to it or a
digest promoted from another environment.

Whatever the source, the stack deploys ``<repository url>@sha256:...``: a digest names the
exact bytes that passed the checks, where a tag could be re-pointed or misread.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_docker_build as docker_build

DIGEST_PATTERN = re.compile(r"^sha256:[0-9a-f]{64}$")
# Docker's tag grammar.
TAG_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
# A built image's tag ends in the digest of its build context (see build_tag): the repository's
# tags are IMMUTABLE, and ECR refuses a second push of a tag (ImageTagAlreadyExistsException,
# "Image tag mutability" in the ECR user guide), so a tag must never stand for two contexts.
CONTENT_TAG_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,114}-[0-9a-f]{12}$")
# What never reaches the build, whatever .dockerignore says: byte code the tests leave behind.
_NOT_CONTEXT = re.compile(r"(^|/)__pycache__(/|$)|\.py[cod]$")
# Fargate tasks in this stack run x86_64 (the task definition's runtime platform).
PLATFORM = docker_build.Platform.LINUX_AMD64


@dataclass(frozen=True)
class ServiceImageArgs:
    """Where the image lives and where it comes from."""

    environment: str
    """Environment name; the repository is ``<environment>/<repository_name>``. From config
    `environment`. Required."""
    repository_name: str
    """Repository name inside the environment's namespace, e.g. ``notes-api``. From config
    `imageRepositoryName`. Required."""
    kms_key_arn: pulumi.Input[str]
    """KMS key that encrypts the repository's layers. Set by the stack from Keys (``ecr``).
    Required."""
    context_path: str
    """Build context: a directory holding the Dockerfile. Set by the stack to ``app``, relative
    to the project directory. Required."""
    keep_images: int = 30
    """Lifecycle policy: the newest this many images stay, older ones expire. From config
    `imageKeepImages`. Default 30."""
    build: bool = True
    """Build the image from ``context_path`` and push it. False: this environment only deploys
    a digest promoted into its repository (``digest``; none yet on a first deploy). From config
    `imageBuild`. Default True."""
    digest: str | None = None
    """Deploy this digest (``sha256:<64 hex>``), which must be in this repository. Only with
    ``build`` False. From config `imageDigest`. Default None."""
    tag: str = "unknown-000000000000"
    """Tag of a built image: ``<git revision>-<12 hex of the build context's digest>``
    (``build_tag``), so that two different contexts never claim one tag. Set by the stack
    (``stacks.settings.image_tag``) when it builds. Default ``unknown-000000000000``."""


def context_digest(context: Path) -> str:
    """sha256 over every file of the build context (path and bytes, in path order).

    A superset of what the build sees (.dockerignore is not applied, only byte code is left
    out): a change the build ignores may give a new tag and one more push, never one tag to
    two different builds. Symlinks are hashed as their target path, as the build context
    sends them."""
    digest = hashlib.sha256()
    for path in sorted(p for p in context.rglob("*") if p.is_file() or p.is_symlink()):
        relative = path.relative_to(context).as_posix()
        if _NOT_CONTEXT.search(relative):
            continue
        content = str(path.readlink()).encode() if path.is_symlink() else path.read_bytes()
        digest.update(f"{relative}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()


def build_tag(revision: str, context: Path) -> str:
    """``<revision>-<12 hex of context_digest>``: the tag a build of ``context`` pushes."""
    return f"{revision[:115]}-{context_digest(context)[:12]}"


def lifecycle_policy(keep_images: int) -> str:
    """ECR lifecycle policy JSON keeping the newest ``keep_images`` images."""
    return json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": f"keep the newest {keep_images} images",
                    # "any", not "tagged": promoted images may arrive without a tag, and an
                    # image index's untagged children are counted with their index.
                    "selection": {
                        "tagStatus": "any",
                        "countType": "imageCountMoreThan",
                        "countNumber": keep_images,
                    },
                    "action": {"type": "expire"},
                }
            ]
        },
        sort_keys=True,
    )


class ServiceImage(pulumi.ComponentResource):
    """ECR repository (immutable tags, scan on push, KMS) plus the image the service runs.

    With ``build`` False nothing is built: ``digest`` must already be in this repository (the
    promotion step copies it from the environment that tested it), and without one the
    repository waits, empty, for the first promotion.
    """

    repository: aws.ecr.Repository
    repository_url: pulumi.Output[str]
    # None while a promote-only environment waits for its first promoted image.
    digest: pulumi.Output[str] | None
    image_ref: pulumi.Output[str] | None
    image: docker_build.Image | None

    def __init__(self, name: str, args: ServiceImageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        _validate(args)
        super().__init__("notes:infra:ServiceImage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.repository = aws.ecr.Repository(
            f"{name}-repository",
            name=f"{args.environment}/{args.repository_name}",
            # Tags never move: a deploy by tag could not silently pick up other bytes, and
            # the lifecycle policy cannot be dodged by re-tagging.
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
            encryption_configurations=[
                aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="KMS", kms_key=args.kms_key_arn)
            ],
            # Deleting the stack must not silently delete the images a service may still run.
            force_delete=False,
            opts=child,
        )
        self.repository_url = self.repository.repository_url

        aws.ecr.LifecyclePolicy(
            f"{name}-lifecycle",
            repository=self.repository.name,
            policy=lifecycle_policy(args.keep_images),
            opts=child,
        )

        self.image = self._build(name, args) if args.build else None
        self.digest = (
            self.image.digest
            if self.image
            else pulumi.Output.from_input(args.digest)
            if args.digest
            else None
        )
        self.image_ref = (
            pulumi.Output.concat(self.repository_url, "@", self.digest) if self.digest is not None else None
        )

        self.register_outputs(
            {
                "repositoryUrl": self.repository_url,
                **({"digest": self.digest, "imageRef": self.image_ref} if self.digest is not None else {}),
            }
        )

    def _build(self, name: str, args: ServiceImageArgs) -> docker_build.Image:
        token = aws.ecr.get_authorization_token_output(opts=pulumi.InvokeOutputOptions(parent=self))
        registry = self.repository_url.apply(lambda url: url.split("/", 1)[0])
        context = Path(args.context_path)
        return docker_build.Image(
            f"{name}-build",
            context=docker_build.BuildContextArgs(location=str(context)),
            dockerfile=docker_build.DockerfileArgs(location=str(context / "Dockerfile")),
            platforms=[PLATFORM],
            # One tag, by content (build_tag): the repository's tags are immutable, so a moving
            # tag such as "latest", or a revision rebuilt from a changed working tree, would be
            # refused on the second push. The build re-runs when the context changes, and then
            # so does the tag.
            tags=[pulumi.Output.concat(self.repository_url, ":", args.tag)],
            push=True,
            registries=[
                docker_build.RegistryArgs(
                    address=registry,
                    username=token.user_name,
                    password=pulumi.Output.secret(token.password),
                )
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )


def _validate(args: ServiceImageArgs) -> None:
    if args.keep_images < 1:
        raise ValueError(f"keep_images must be at least 1, got {args.keep_images}")
    if args.digest is not None:
        if args.build:
            raise ValueError("digest deploys a promoted image: set build=False, or drop the digest to build")
        if not DIGEST_PATTERN.match(args.digest):
            raise ValueError(f"digest must look like sha256:<64 lowercase hex>, got {args.digest!r}")
        return
    if not args.build:
        return
    if not CONTENT_TAG_PATTERN.match(args.tag):
        raise ValueError(
            f"tag {args.tag!r} is not <revision>-<12 hex of the context digest> (infra.image.build_tag): "
            "a tag without the content digest could be pushed twice for different builds"
        )
    if not (Path(args.context_path) / "Dockerfile").is_file():
        raise ValueError(
            f"context_path {args.context_path} has no Dockerfile: point it at the app/ directory "
            "or set a digest to deploy instead of building"
        )

"""The service's container image: its ECR repository, and either a build pushed to it or a
digest promoted from another environment.

Whatever the source, the stack deploys ``<repository url>@sha256:...``: a digest names the
exact bytes that passed the checks, where a tag could be re-pointed or misread.
"""

from __future__ import annotations

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
    digest: str | None = None
    """Deploy this digest (``sha256:<64 hex>``) and build nothing. From config `imageDigest`.
    Default None: build."""
    git_revision: str = "unknown"
    """Tag of a built image. Set by the stack to the git revision when it builds. Default
    ``unknown``."""


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

    With ``digest`` set nothing is built: the digest must already be in this repository
    (the promotion step copies it from the environment that tested it).
    """

    repository: aws.ecr.Repository
    repository_url: pulumi.Output[str]
    digest: pulumi.Output[str]
    image_ref: pulumi.Output[str]
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

        if args.digest is not None:
            self.image = None
            self.digest = pulumi.Output.from_input(args.digest)
        else:
            self.image = self._build(name, args)
            self.digest = self.image.digest

        self.image_ref = pulumi.Output.concat(self.repository_url, "@", self.digest)

        self.register_outputs(
            {
                "repositoryUrl": self.repository_url,
                "digest": self.digest,
                "imageRef": self.image_ref,
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
            # One tag, the revision: the repository's tags are immutable, so a moving tag
            # such as "latest" would be refused on the second push.
            tags=[pulumi.Output.concat(self.repository_url, ":", args.git_revision)],
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
        if not DIGEST_PATTERN.match(args.digest):
            raise ValueError(f"digest must look like sha256:<64 lowercase hex>, got {args.digest!r}")
        return
    if not TAG_PATTERN.match(args.git_revision):
        raise ValueError(f"git_revision {args.git_revision!r} is not a valid image tag")
    if not (Path(args.context_path) / "Dockerfile").is_file():
        raise ValueError(
            f"context_path {args.context_path} has no Dockerfile: point it at the app/ directory "
            "or set a digest to deploy instead of building"
        )

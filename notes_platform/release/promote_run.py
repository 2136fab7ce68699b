"""From ``notes-platform promote``'s arguments to a :class:`~notes_platform.release.promote.Request`,
the clients it needs, and one exit code per outcome."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from notes_platform.release import records, stack_file, staging_source
from notes_platform.release.allowlist import DEFAULT_PATH
from notes_platform.release.promote import INPUT_ERRORS, Exit, Refusal, Request, promote
from notes_platform.release.registry import RegistryError, Repository, Skopeo, write_ecr_authfile


def _source_image(args: argparse.Namespace, root: Path) -> records.StagingImage:
    if args.staging_image is not None:
        image = records.read_staging_image(args.staging_image)
        if image.stack != args.source:
            raise records.RecordError(
                f"{args.staging_image}: stack: the file is for {image.stack!r}, not --from {args.source!r}"
            )
        return image
    outputs = staging_source.stack_outputs(args.source, root)
    return staging_source.staging_image_from_outputs(args.source, outputs)


def _environment(path: Path) -> tuple[str, str | None]:
    """``notes-platform:environment`` and ``aws:region``: the namespace and region of its repository."""
    environment = stack_file.config_value(path, f"{stack_file.PROJECT}:environment")
    if not isinstance(environment, str):
        raise stack_file.StackFileError(f"{path}: {stack_file.PROJECT}:environment: expected a string")
    region = stack_file.config_value(path, "aws:region")
    return environment, region if isinstance(region, str) else None


def _target(args: argparse.Namespace, root: Path, target_file: Path, source: Repository | None) -> Repository:
    if args.to_repository:
        return Repository.parse(args.to_repository)
    if source is None:  # a rollback: the target stack says where its repository is
        outputs = staging_source.stack_outputs(args.target, root)
        url = outputs.get(staging_source.REPOSITORY_OUTPUT)
        if not isinstance(url, str):
            raise staging_source.StagingSourceError(f"stack {args.target!r} has no ecrRepositoryUrl output")
        return Repository.parse(url)
    environment, region = _environment(target_file)
    return source.in_environment(environment, region)


def build_request(args: argparse.Namespace, root: Path) -> Request:
    target_file = args.stack_file or root / f"Pulumi.{args.target}.yaml"
    source: Repository | None = None
    digest = args.digest
    if not args.rollback:
        image = _source_image(args, root)
        source, digest = Repository.parse(image.repository_url), image.digest
    return Request(
        target_stack=args.target,
        stack_file=target_file,
        digest=digest,
        target=_target(args, root, target_file, source),
        source_stack=None if args.rollback else args.source,
        source=source,
        verify_record=args.verify_record,
        allowlist=args.allowlist or DEFAULT_PATH,
        dry_run=args.dry_run,
    )


def _ecr_clients(request: Request) -> tuple[Any, list[Any]]:
    """The ECR API client for the source's scan, and one client per ECR registry skopeo talks to."""
    import boto3  # noqa: PLC0415 (only a real run needs it)

    scan = None
    if request.source is not None:
        scan = boto3.client("ecr", region_name=request.source.ecr_region)
    regions = {r.ecr_region for r in (request.source, request.target) if r is not None and r.ecr_region}
    return scan, [boto3.client("ecr", region_name=region) for region in sorted(regions)]


def execute(args: argparse.Namespace, root: Path) -> int:
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    def say(line: str) -> None:
        print(line, flush=True)

    try:
        request = build_request(args, root)
        with tempfile.TemporaryDirectory(prefix="promote-") as scratch:
            scan_client, registry_clients = _ecr_clients(request)
            authfile = write_ecr_authfile(registry_clients, Path(scratch)) if registry_clients else None
            skopeo = Skopeo(authfile=authfile, insecure=args.insecure_registry)
            return int(promote(request, skopeo, scan_client, say))
    except Refusal as refusal:
        print(f"notes-platform promote: refused (exit {int(refusal.code)}): {refusal}", file=sys.stderr)
        return int(refusal.code)
    except (*INPUT_ERRORS, staging_source.StagingSourceError, ValueError) as exc:
        print(f"notes-platform promote: {exc}", file=sys.stderr)
        return int(Exit.BAD_INPUT)
    except RegistryError as exc:
        print(f"notes-platform promote: {exc}", file=sys.stderr)
        return int(Exit.REGISTRY_ERROR)
    except (BotoCoreError, ClientError) as exc:
        # Refused (AccessDenied, ...) or unreachable (no credentials, no endpoint): named by class,
        # so a missing permission reads as such in the log.
        print(f"notes-platform promote: AWS: {type(exc).__name__}: {exc}", file=sys.stderr)
        return int(Exit.REGISTRY_ERROR)

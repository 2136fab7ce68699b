"""The typed schema of the bootstrap program's stack file (``bootstrap/Pulumi.<stack>.yaml``).

The bootstrap program (``bootstrap/``, project ``notes-platform-bootstrap``) creates, once per
AWS account, what the environment stacks need before their first ``pulumi up``: the state
bucket and its KMS key, GitHub's OIDC provider, a deploy role per environment and a read-only
preview role. A bad stack file raises ``BootstrapConfigError`` naming the file and the key
before any resource is registered, like ``stacks.config`` does for the environment stacks.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from stacks.config import PROJECT as MAIN_PROJECT
from stacks.config import ROOT

PROJECT = "notes-platform-bootstrap"
DIRECTORY = ROOT / "bootstrap"
# GitHub owner and repository names: letters, digits, '-', '_' and '.' (no wildcard can pass).
_REPOSITORY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")


class BootstrapConfigError(Exception):
    """A bootstrap stack file the program must not run with; the message names file and key."""


class BootstrapConfig(BaseModel):
    """Every key of the bootstrap stack file, flat (``notes-platform-bootstrap:<key>``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    region: str = Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$", description="AWS region (aws:region)")
    github_repository: str = Field(
        alias="githubRepository",
        description="OWNER/REPO whose workflows may assume the roles; no wildcard",
    )
    state_bucket_name: str = Field(
        alias="stateBucketName",
        pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
        description="name of the state bucket (S3 names are global: include the account id)",
    )
    state_key_alias: str = Field(
        default="notes-platform-state",
        alias="stateKeyAlias",
        pattern=r"^[a-zA-Z0-9/_-]{1,250}$",
        description="KMS alias (without alias/) of the state and secrets key",
    )
    environments: tuple[str, ...] = Field(
        default=("staging", "prod"),
        description="environments deploying into this account; one deploy role each",
    )
    state_readers: dict[str, list[str]] = Field(
        default_factory=lambda: {"prod": ["staging"]},
        alias="stateReaders",
        description="environment -> other stacks whose state its deploy role may read "
        "(prod's promote reads staging's outputs)",
    )
    preview_branches: tuple[str, ...] = Field(
        default=("main",),
        alias="previewBranches",
        description="branches whose jobs without an environment may assume the preview role "
        "(the weekly drift preview runs on main)",
    )
    owner: str = Field(description="team that owns the bootstrap resources (Owner tag)")
    cost_center: str = Field(alias="costCenter", description="cost centre (CostCenter tag)")

    @field_validator("github_repository")
    @classmethod
    def _repository(cls, value: str) -> str:
        if not _REPOSITORY.match(value):
            raise ValueError(f"expected OWNER/REPO (letters, digits, '-', '_', '.'), got {value!r}")
        return value

    @field_validator("environments")
    @classmethod
    def _environments(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [e for e in value if not re.match(r"^[a-z][a-z0-9]{0,15}$", e)]
        if bad or not value or len(set(value)) != len(value):
            raise ValueError(f"expected distinct lower-case names like staging, prod; got {list(value)}")
        return value

    @model_validator(mode="after")
    def _combinations(self) -> BootstrapConfig:
        problems: list[str] = []
        for environment in self.environments:
            # A deploy role administers buckets named notes-<env>-*: the state bucket must not
            # be one of them, or a deploy job could rewrite the bucket policy of every stack.
            if self.state_bucket_name.startswith(f"notes-{environment}-"):
                problems.append(
                    f"stateBucketName: must not start with notes-{environment}-: that environment's "
                    "deploy role administers those buckets"
                )
        for reader, stacks in self.state_readers.items():
            if reader not in self.environments:
                problems.append(
                    f"stateReaders: {reader!r} is not one of environments {list(self.environments)}"
                )
            problems += [
                f"stateReaders: {reader} reads {s!r}, not one of environments"
                for s in stacks
                if s not in self.environments
            ]
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _describe(exc: ValidationError, source: str) -> str:
    fields = BootstrapConfig.model_fields
    lines = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        message = str(error["msg"]).removeprefix("Value error, ")
        if loc and loc[0] == "region":
            lines.append(f"{source}: aws:region: {message}")
        elif loc and loc[0] in {f.alias or n for n, f in fields.items()}:
            if error["type"] == "missing":
                message = "required key is missing"
            lines.append(f"{source}: {PROJECT}:{loc[0]}: {message}")
        else:
            for part in message.split("; "):
                key, _, text = part.partition(": ")
                lines.append(f"{source}: {PROJECT}:{key}: {text}" if text else f"{source}: {part}")
    return "\n".join(lines)


def known_keys() -> set[str]:
    return {f.alias or name for name, f in BootstrapConfig.model_fields.items() if name != "region"}


def load(values: dict[str, Any], stack: str) -> BootstrapConfig:
    """Validate ``{"notes-platform-bootstrap:key": value, "aws:region": ...}``: values typed (from
    YAML) or strings (as the engine passes them; lists and objects as JSON)."""
    source = f"bootstrap/Pulumi.{stack}.yaml"
    keys = known_keys()
    given: dict[str, Any] = {}
    for full_key, value in sorted(values.items()):
        namespace, _, key = full_key.partition(":")
        if namespace != PROJECT:
            continue
        if key not in keys:
            raise BootstrapConfigError(
                f"{source}: {full_key}: unknown key (known: {', '.join(sorted(keys))})"
            )
        parsed = value
        if isinstance(value, str) and key in {"environments", "stateReaders", "previewBranches"}:
            try:
                parsed = json.loads(value)
            except json.JSONDecodeError as exc:
                raise BootstrapConfigError(f"{source}: {full_key}: expected JSON, got {value!r}") from exc
        given[key] = parsed
    try:
        return BootstrapConfig(region=str(values.get("aws:region") or ""), **given)
    except ValidationError as exc:
        raise BootstrapConfigError(_describe(exc, source)) from exc


def read_stack_file(stack: str, directory: Path = DIRECTORY) -> dict[str, Any]:
    """The ``config:`` mapping of ``<directory>/Pulumi.<stack>.yaml``."""
    path = directory / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        stacks = ", ".join(sorted(p.name[7:-5] for p in directory.glob("Pulumi.*.yaml")))
        raise BootstrapConfigError(f"bootstrap/{path.name}: no such stack file (stacks: {stacks})")
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise BootstrapConfigError(f"bootstrap/{path.name}: not valid YAML: {exc}") from exc
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config, dict):
        raise BootstrapConfigError(f"bootstrap/{path.name}: has no `config:` mapping")
    return config


def default_tags(config: BootstrapConfig) -> dict[str, str]:
    return {
        "Project": MAIN_PROJECT,
        # Not an environment of the notes API: shared by all of them in this account.
        "Environment": "bootstrap",
        "Owner": config.owner,
        "CostCenter": config.cost_center,
        "ManagedBy": "pulumi",
    }

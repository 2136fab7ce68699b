"""The typed schema of a stack's configuration.

Every per-environment difference is a value in ``Pulumi.<stack>.yaml``; this module is the
only reader of Pulumi config. Keys are flat (``notes-platform:docdbInstanceCount``) because
Pulumi's project-level config declarations type scalars and arrays only; each key maps onto a
field of one section model (``stacks.sections``): ``docdb`` + ``instance_count``.
``Pulumi.yaml``'s ``config:`` block is generated from these models (``notes-platform config
--write``) and a test keeps the two in step.

A bad stack file raises ``StackConfigError`` naming the file and the key before any
resource is registered.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, get_origin

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from infra.fargate import FARGATE_SIZES
from infra.recovery_window import FORCE_DELETE
from stacks.error_tracking import sentry_problems
from stacks.guardrail_sections import Backup, Budget, guardrail_problems
from stacks.sections import (
    Alarms,
    Alb,
    Cache,
    Dns,
    DocumentDb,
    Edge,
    Eks,
    Exports,
    General,
    Image,
    Network,
    Secrets,
    Section,
    Service,
    Worker,
)

PROJECT = "notes-platform"
ROOT = Path(__file__).resolve().parent.parent

INTERFACE_ENDPOINTS = ("ecr.api", "ecr.dkr", "logs", "secretsmanager", "sts", "kms", "sqs")


class StackConfigError(Exception):
    """A stack file the program must not run with; the message names the file and key."""


class StackConfig(BaseModel):
    """The whole stack file; each section is one concern."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    region: str = Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$", description="AWS region (aws:region)")
    general: General
    network: Network
    docdb: DocumentDb
    cache: Cache
    service: Service
    image: Image
    dns: Dns
    alb: Alb
    edge: Edge
    alarms: Alarms
    secrets: Secrets
    eks: Eks
    exports: Exports
    worker: Worker
    backup: Backup
    budget: Budget

    @model_validator(mode="after")
    def _combinations(self) -> StackConfig:
        problems: list[tuple[str, str]] = [
            (key, problem)
            for key, cpu, memory in (
                ("serviceMemory", self.service.cpu, self.service.memory),
                ("workerMemory", self.worker.cpu, self.worker.memory),
            )
            if (problem := _fargate_size_problem(cpu, memory))
        ]
        if not self.service.min_count <= self.service.desired_count <= self.service.max_count:
            problems.append(("serviceDesiredCount", "must lie between serviceMinCount and serviceMaxCount"))
        if self.service.fargate_weight + self.service.fargate_spot_weight == 0:
            problems.append(("serviceFargateWeight", "at least one capacity provider needs a weight above 0"))
        if self.cache.multi_az and not self.cache.automatic_failover:
            problems.append(("cacheMultiAz", "multi-AZ needs cacheAutomaticFailover: true"))
        if self.cache.automatic_failover and self.cache.node_count < 2:
            problems.append(
                ("cacheAutomaticFailover", "automatic failover needs cacheNodeCount of 2 or more")
            )
        zones = self.network.availability_zones
        problems += [
            ("networkAvailabilityZones", f"{zone} is not an availability zone of {self.region}")
            for zone in zones
            # An AZ name is its region's name plus one letter (eu-west-1a in eu-west-1).
            if zone[:-1] != self.region
        ]
        if self.cache.multi_az and len(zones) < 2:
            problems.append(("cacheMultiAz", "multi-AZ failover needs 2 or more networkAvailabilityZones"))
        if self.docdb.instance_count > 1 and len(zones) < 2:
            problems.append(
                (
                    "docdbInstanceCount",
                    "replicas in one AZ do not survive its loss: list 2 or more networkAvailabilityZones",
                )
            )
        if self.network.nat_gateways == "none":
            needed = {"ecr.api", "ecr.dkr", "logs", "secretsmanager"}
            missing = sorted(needed - set(self.network.interface_endpoints))
            if missing or not self.network.s3_gateway_endpoint:
                problems.append(
                    (
                        "networkNatGateways",
                        "a private tier without NAT needs the S3 gateway endpoint and "
                        f"interface endpoints {sorted(needed)}; missing {missing or ['s3']}",
                    )
                )
        if self.network.nat_gateways == "none" and "sqs" not in self.network.interface_endpoints:
            # The API sends export jobs and the worker receives them: SQS has no gateway
            # endpoint, so without NAT the private tier reaches it only through its interface one.
            problems.append(
                (
                    "networkInterfaceEndpoints",
                    "with networkNatGateways: none the API and the export worker reach SQS only "
                    "through its interface endpoint: add sqs",
                )
            )
        if self.service.shutdown_grace_seconds + 10 > 120:
            problems.append(
                ("serviceShutdownGraceSeconds", "ECS stopTimeout is at most 120 s; keep the grace <= 110")
            )
        protected = {
            "docdbDeletionProtection": self.docdb.deletion_protection,
            "docdbProtect": self.docdb.protect,
            "cacheProtect": self.cache.protect,
        }
        if self.secrets.recovery_window_days == FORCE_DELETE and any(protected.values()):
            # A stack that keeps its data must keep the credentials to it recoverable too.
            problems.append(
                (
                    "secretsRecoveryWindowDays",
                    "0 deletes secrets at once, for stacks that protect no data ("
                    f"{', '.join(k for k, on in protected.items() if on)} on here): keep 7 to 30 days",
                )
            )
        problems += [
            ("edgeAliases", f"{alias} is not inside zone {self.dns.zone_name}")
            for alias in self.edge.aliases
            if not alias.endswith("." + self.dns.zone_name)
        ]
        problems += guardrail_problems(self.region, self.backup, self.alarms.emails)
        problems += sentry_problems(self.region, self.service.sentry_dsn_secret_arn)
        if problems:
            raise ValueError("; ".join(f"{key}: {message}" for key, message in problems))
        return self


def _fargate_size_problem(cpu: int, memory: int) -> str | None:
    offered = FARGATE_SIZES.get(cpu)
    if offered is None:
        return f"Fargate cpu must be one of {sorted(FARGATE_SIZES)}"
    if memory not in offered:
        return (
            f"Fargate does not offer cpu={cpu} with memory={memory} (with that cpu it offers {list(offered)})"
        )
    return None


SECTIONS: dict[str, type[Section]] = {
    "general": General,
    "network": Network,
    "docdb": DocumentDb,
    "cache": Cache,
    "service": Service,
    "image": Image,
    "dns": Dns,
    "alb": Alb,
    "edge": Edge,
    "alarms": Alarms,
    "secrets": Secrets,
    "eks": Eks,
    "exports": Exports,
    "worker": Worker,
    "backup": Backup,
    "budget": Budget,
}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def config_key(section: str, field: str) -> str:
    """``("docdb", "instance_count")`` -> ``"docdbInstanceCount"``; general fields keep their own name."""
    camel = _camel(field)
    return camel if section == "general" else section + camel[:1].upper() + camel[1:]


def key_table() -> dict[str, tuple[str, str]]:
    """Flat config key -> (section, field), for every key the schema knows."""
    return {
        config_key(section, field): (section, field)
        for section, model in SECTIONS.items()
        for field in model.model_fields
    }


def _is_list(annotation: Any) -> bool:
    return get_origin(annotation) is list


def load(values: dict[str, Any], stack: str, root: Path = ROOT) -> StackConfig:
    """Validate a stack's config values (``{"notes-platform:key": value, "aws:region": ...}``),
    and against the other stack files in ``root`` (``zone_conflicts``).

    Values may be typed (read from YAML) or strings (as the Pulumi engine passes them).
    """
    config = _validate(values, stack)
    conflicts = zone_conflicts(config, stack, root)
    if conflicts:
        raise StackConfigError("\n".join(conflicts))
    return config


def _validate(values: dict[str, Any], stack: str) -> StackConfig:
    source = f"Pulumi.{stack}.yaml"
    table = key_table()
    sections: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
    region = values.get("aws:region")
    for full_key, value in sorted(values.items()):
        namespace, _, key = full_key.partition(":")
        if namespace != PROJECT:
            continue
        if key not in table:
            close = [k for k in table if k.lower() == key.lower()]
            hint = f" (did you mean {PROJECT}:{close[0]}?)" if close else ""
            raise StackConfigError(f"{source}: {full_key}: unknown key{hint}")
        section, field = table[key]
        annotation = SECTIONS[section].model_fields[field].annotation
        parsed = value
        if isinstance(value, str) and _is_list(annotation):
            try:
                parsed = json.loads(value)
            except json.JSONDecodeError as exc:
                raise StackConfigError(f"{source}: {full_key}: expected a list, got {value!r}") from exc
        sections[section][field] = parsed
    try:
        return StackConfig(region=region or "", **sections)
    except ValidationError as exc:
        raise StackConfigError(_describe(exc, source)) from exc


def _describe(exc: ValidationError, source: str) -> str:
    lines = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        message = str(error["msg"]).removeprefix("Value error, ")
        if loc == ["region"]:
            lines.append(f"{source}: aws:region: {message}")
        elif len(loc) >= 2 and loc[0] in SECTIONS:
            if error["type"] == "missing":
                message = "required key is missing"
            lines.append(f"{source}: {PROJECT}:{config_key(loc[0], loc[1])}: {message}")
        else:
            # Rules across fields put "key: message" pairs, separated by "; ", in the message.
            for part in message.split("; "):
                key, _, text = part.partition(": ")
                lines.append(f"{source}: {PROJECT}:{key}: {text}" if text else f"{source}: {part}")
    return "\n".join(lines)


def read_stack_file(stack: str, root: Path = ROOT) -> dict[str, Any]:
    """The ``config:`` mapping of ``Pulumi.<stack>.yaml`` (typed values, as YAML gives them)."""
    path = root / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise StackConfigError(
            f"{path.name}: no such stack file (stacks: "
            f"{', '.join(sorted(p.name[7:-5] for p in root.glob('Pulumi.*.yaml')))})"
        )
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise StackConfigError(f"{path.name}: not valid YAML: {exc}") from exc
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config, dict):
        raise StackConfigError(f"{path.name}: has no `config:` mapping")
    for key, value in config.items():
        if isinstance(value, dict) and "secure" in value:
            raise StackConfigError(
                f"{path.name}: {key}: secrets are generated by the program, not typed into stack files"
            )
    return config


def load_stack(stack: str, root: Path = ROOT) -> StackConfig:
    return load(read_stack_file(stack, root), stack, root)


def zone_conflicts(config: StackConfig, stack: str, root: Path = ROOT) -> list[str]:
    """Other stack files in ``root`` that name this stack's DNS zone with another zone id.

    A zone name resolves through one delegation only: Route 53 gives each hosted zone its own
    four name servers, and of two zones with one name only the one the parent (or registrar)
    lists answers, so ACM's DNS validation records written into the other are never seen and
    its certificates stay pending (Route 53 Developer Guide, "Creating a public hosted zone",
    https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/CreatingHostedZone.html, and
    "Routing traffic for subdomains": a subdomain zone is delegated by NS records in the
    parent, .../dns-routing-traffic-for-subdomains.html; only confirmable against AWS). Each
    stack therefore owns its zone: staging a sub-zone delegated from prod's.
    """
    source = f"Pulumi.{stack}.yaml"
    zone = config.dns.zone_name.rstrip(".").lower()
    problems = []
    for path in sorted(root.glob("Pulumi.*.yaml")):
        if path.name == source:
            continue
        try:
            other = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
        except (yaml.YAMLError, AttributeError):
            continue  # that file's own load reports it
        name, zone_id = other.get(f"{PROJECT}:dnsZoneName"), other.get(f"{PROJECT}:dnsZoneId")
        if (
            str(name).rstrip(".").lower() == zone
            and zone_id is not None
            and str(zone_id) != config.dns.zone_id
        ):
            problems.append(
                f"{source}: {PROJECT}:dnsZoneId: {config.dns.zone_id} names zone {zone}, which "
                f"{path.name} gives {PROJECT}:dnsZoneId {zone_id}; only the delegated one of two "
                "zones with one name answers, so certificate validation in the other never "
                "finishes: give each stack its own zone (staging a delegated sub-zone)"
            )
    return problems

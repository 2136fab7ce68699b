"""The stack configuration schema: both stack files valid, every bad input named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from notes_platform.commands.config import optional_keys, project_config_block
from notes_platform.graph.plan import engine_config
from stacks.config import ROOT, StackConfigError, load, load_stack, read_stack_file


def _staging(**changes: Any) -> dict[str, Any]:
    values = read_stack_file("staging")
    for key, value in changes.items():
        full = key if ":" in key else f"notes-platform:{key}"
        if value is None:
            values.pop(full, None)
        else:
            values[full] = value
    return values


def _error(values: dict[str, Any]) -> str:
    with pytest.raises(StackConfigError) as caught:
        load(values, "staging")
    return str(caught.value)


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_committed_stack_files_are_valid(stack: str) -> None:
    config = load_stack(stack)
    assert config.general.environment == stack


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_engine_strings_parse_to_the_same_config(stack: str) -> None:
    # GIVEN the values as the Pulumi engine passes them (all strings, lists as JSON)
    values = read_stack_file(stack)
    # THEN they validate to exactly what the typed YAML gives
    assert load(engine_config(values), stack) == load(values, stack)


def test_staging_is_the_cheap_profile_and_prod_the_highly_available_one() -> None:
    staging, prod = load_stack("staging"), load_stack("prod")
    assert (len(staging.network.availability_zones), staging.network.nat_gateways) == (2, "single")
    assert (len(prod.network.availability_zones), prod.network.nat_gateways) == (3, "perAz")
    assert (staging.docdb.instance_count, prod.docdb.instance_count) == (1, 3)
    assert (staging.cache.node_count, staging.cache.multi_az) == (1, False)
    assert (prod.cache.multi_az, prod.cache.automatic_failover) == (True, True)
    assert staging.service.fargate_spot_weight > staging.service.fargate_weight
    assert prod.service.fargate_spot_weight == 0
    assert prod.docdb.deletion_protection and prod.docdb.protect and prod.cache.protect
    assert prod.alb.deletion_protection and not staging.alb.deletion_protection
    assert prod.image.digest is not None and staging.image.digest is None


def test_unknown_key_is_named_with_a_suggestion() -> None:
    message = _error(_staging(docdbinstancecount=2))
    assert message == (
        "Pulumi.staging.yaml: notes-platform:docdbinstancecount: unknown key "
        "(did you mean notes-platform:docdbInstanceCount?)"
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"docdbInstanceCount": "three"},
            "notes-platform:docdbInstanceCount: Input should be a valid integer",
        ),
        (
            {"networkNatGateways": "double"},
            "notes-platform:networkNatGateways: Input should be 'single', 'perAz' or 'none'",
        ),
        ({"docdbInstanceClass": None}, "notes-platform:docdbInstanceClass: required key is missing"),
        ({"networkCidr": "10.0.0.0/8"}, "notes-platform:networkCidr: the VPC CIDR must be a /16 to /20"),
        (
            {"serviceLogRetentionDays": 10},
            "notes-platform:serviceLogRetentionDays: CloudWatch Logs retention must be one of",
        ),
        ({"aws:region": "mars-1"}, "aws:region: String should match pattern"),
        ({"imageDigest": "latest"}, "notes-platform:imageDigest: String should match pattern"),
        (
            {"dnsOriginName": "origin.other.org"},
            "notes-platform:dnsOriginName: origin.other.org is not inside zone",
        ),
        (
            {"networkInterfaceEndpoints": "[not json"},
            "notes-platform:networkInterfaceEndpoints: expected a list",
        ),
        # With no task running, backlog per task has no value: the worker would never scale out.
        ({"workerMinCount": 0}, "notes-platform:workerMinCount: Input should be greater than or equal to 1"),
        (
            {"workerShutdownGraceSeconds": 111},
            "notes-platform:workerShutdownGraceSeconds: Input should be less",
        ),
        (
            {"exportsMaxReceives": 0},
            "notes-platform:exportsMaxReceives: Input should be greater than or equal",
        ),
        ({"workerLogRetentionDays": 10}, "notes-platform:workerLogRetentionDays: CloudWatch Logs retention"),
    ],
)
def test_bad_values_name_the_file_and_key(change: dict[str, Any], expected: str) -> None:
    message = _error(_staging(**change))
    assert message.startswith("Pulumi.staging.yaml: "), message
    assert expected in message, message


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        (
            {"serviceCpu": 256, "serviceMemory": 4096},
            "serviceMemory",
            "Fargate does not offer cpu=256 with memory=4096",
        ),
        ({"serviceCpu": 300}, "serviceMemory", "Fargate cpu must be one of"),
        (
            {
                "networkAvailabilityZones": ["eu-west-1a"],
                "cacheNodeCount": 2,
                "cacheAutomaticFailover": True,
                "cacheMultiAz": True,
            },
            "cacheMultiAz",
            "multi-AZ failover needs 2 or more networkAvailabilityZones",
        ),
        ({"cacheMultiAz": True}, "cacheMultiAz", "multi-AZ needs cacheAutomaticFailover: true"),
        ({"cacheAutomaticFailover": True}, "cacheAutomaticFailover", "needs cacheNodeCount of 2 or more"),
        (
            {"networkNatGateways": "none", "networkInterfaceEndpoints": ["logs"]},
            "networkNatGateways",
            "a private tier without NAT needs",
        ),
        ({"serviceDesiredCount": 9}, "serviceDesiredCount", "between serviceMinCount and serviceMaxCount"),
        (
            {"serviceFargateWeight": 0, "serviceFargateSpotWeight": 0},
            "serviceFargateWeight",
            "weight above 0",
        ),
        (
            {"networkAvailabilityZones": ["eu-west-1a"], "docdbInstanceCount": 2},
            "docdbInstanceCount",
            "do not survive",
        ),
        (
            {"networkAvailabilityZones": ["eu-west-1a", "us-east-1b"]},
            "networkAvailabilityZones",
            "us-east-1b is not an availability zone of eu-west-1",
        ),
        ({"workerCpu": 256, "workerMemory": 4096}, "workerMemory", "Fargate does not offer cpu=256"),
        ({"workerCpu": 300}, "workerMemory", "Fargate cpu must be one of"),
        ({"workerMinCount": 3, "workerMaxCount": 2}, "workerMinCount", "is above workerMaxCount (2)"),
        ({"workerFargateWeight": 0, "workerFargateSpotWeight": 0}, "workerFargateWeight", "weight above 0"),
        (
            {"exportsJobTimeoutSeconds": 800, "exportsVisibilityTimeoutSeconds": 800},
            "exportsVisibilityTimeoutSeconds",
            "must be above exportsJobTimeoutSeconds (800)",
        ),
        (
            {"exportsJobTimeoutSeconds": 900, "exportsVisibilityTimeoutSeconds": 1200},
            "exportsJobTimeoutSeconds",
            "must be below the oldest-export alarm's 900 s",
        ),
        (
            {
                "networkNatGateways": "none",
                "networkInterfaceEndpoints": ["ecr.api", "ecr.dkr", "logs", "secretsmanager"],
            },
            "networkInterfaceEndpoints",
            "reach SQS only through its interface endpoint: add sqs",
        ),
    ],
)
def test_impossible_combinations_are_refused(change: dict[str, Any], key: str, words: str) -> None:
    message = _error(_staging(**change))
    assert f"Pulumi.staging.yaml: notes-platform:{key}: " in message, message
    assert words in message, message


def test_every_problem_is_reported_at_once() -> None:
    message = _error(_staging(serviceCpu=256, serviceMemory=4096, cacheMultiAz=True))
    assert len(message.splitlines()) == 2, message


def test_secrets_are_refused_in_stack_files(tmp_path: Path) -> None:
    document = yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())
    document["config"]["notes-platform:jwtKey"] = {"secure": "AAABAC..."}
    (tmp_path / "Pulumi.staging.yaml").write_text(yaml.safe_dump(document))
    with pytest.raises(StackConfigError, match="secrets are generated by the program"):
        read_stack_file("staging", tmp_path)


def test_missing_stack_file_lists_the_stacks() -> None:
    with pytest.raises(
        StackConfigError, match=r"Pulumi.qa.yaml: no such stack file \(stacks: prod, staging, staging-eks\)"
    ):
        read_stack_file("qa")


def test_pulumi_yaml_declares_every_key_with_type_and_description() -> None:
    # GIVEN the committed project file
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    # THEN it is exactly what the schema generates (`notes-platform config --write` refreshes it)
    assert declared == project_config_block()
    assert all(entry["type"] and entry["description"] for entry in declared.values())
    # AND every key the stack files use is declared, or is optional (no default of its type,
    # so declaring it would make the CLI require it: tests/stacks/test_project_config.py)
    for stack in ("staging", "prod"):
        used = {k.split(":", 1)[1] for k in read_stack_file(stack) if k.startswith("notes-platform:")}
        undeclared = used - set(declared) - set(optional_keys())
        assert not undeclared, f"Pulumi.{stack}.yaml: {sorted(undeclared)} not declared in Pulumi.yaml"


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        ({"edgeAliases": []}, "edgeAliases", "at least 1 item"),
        ({"albSslPolicy": "ELBSecurityPolicy-TLS13-1-1-2021-06"}, "albSslPolicy", "should match pattern"),
        (
            {"edgeAliases": ["api.other.org"]},
            "edgeAliases",
            "api.other.org is not inside zone staging.notes.example.com",
        ),
        ({"edgePriceClass": "PriceClass_1"}, "edgePriceClass", "Input should be"),
        ({"edgeCountRules": ["no-such-rule"]}, "edgeCountRules", "no-such-rule is not a rule of the web ACL"),
        (
            {"edgeExtraManagedRuleGroups": ["SQLi"]},
            "edgeExtraManagedRuleGroups",
            "not an AWS managed rule group",
        ),
        (
            {"edgeExtraManagedRuleGroups": ["AWSManagedRulesBotControlRuleSet"], "edgeCountRules": []},
            "edgeExtraManagedRuleGroups",
            "needs a rule group configuration",
        ),
        (
            {"edgeOriginSecretGeneration": 2, "edgeOriginSecretPreviousGeneration": 2},
            "edgeOriginSecretPreviousGeneration",
            "2 must be below edgeOriginSecretGeneration (2)",
        ),
        ({"edgeWafLogRetentionDays": 10}, "edgeWafLogRetentionDays", "retention must be one of"),
        ({"edgeRateLimitPer5Minutes": 5}, "edgeRateLimitPer5Minutes", "greater than or equal to 10"),
        ({"alarmsAlb5xxPercent": 0}, "alarmsAlb5xxPercent", "greater than or equal to 1"),
        ({"alarmsTargetP99Ms": "fast"}, "alarmsTargetP99Ms", "valid integer"),
        ({"alarmsEmails": "[oops"}, "alarmsEmails", "expected a list"),
        ({"alarmsEmails": ["ops"]}, "alarmsEmails", "endpoint='ops' is not an e-mail address"),
        (
            {"alarmsHttpsEndpoints": ["http://hooks.example.com/alarms"]},
            "alarmsHttpsEndpoints",
            "an https subscription needs an https:// URL",
        ),
    ],
)
def test_bad_edge_and_alarm_values_name_the_key(change: dict[str, Any], key: str, words: str) -> None:
    message = _error(_staging(**change))
    assert f"Pulumi.staging.yaml: notes-platform:{key}: " in message, message
    assert words in message, message


def test_a_rotation_in_progress_is_a_valid_stack_file() -> None:
    # GIVEN step 1 of a rotation: generation 2 in use, generation 1 still accepted
    config = load(_staging(edgeOriginSecretGeneration=2, edgeOriginSecretPreviousGeneration=1), "staging")
    assert (config.edge.origin_secret_generation, config.edge.origin_secret_previous_generation) == (2, 1)


def test_the_schema_loads_without_pulumi_or_the_provider_sdk() -> None:
    # GIVEN a fresh interpreter (the tooling validates stack files before it needs any SDK)
    probe = "import sys, stacks.config; print(' '.join(sorted(sys.modules)))"
    # WHEN it imports the schema
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    # THEN neither pulumi nor a provider SDK was loaded: the constants the schema shares with
    # the components live in modules that import neither
    loaded = {name.split(".")[0] for name in result.stdout.split()}
    sdks = loaded & {"pulumi", "pulumi_aws", "pulumi_random", "pulumi_docker_build"}
    assert not sdks, f"importing stacks.config loaded {sorted(sdks)}"


def test_each_stack_has_its_own_dns_zone() -> None:
    # GIVEN the committed stack files
    staging, prod = load_stack("staging"), load_stack("prod")
    # THEN staging's zone is a sub-zone of prod's with an id of its own, and its names live in it
    assert staging.dns.zone_name == f"staging.{prod.dns.zone_name}"
    assert staging.dns.zone_id != prod.dns.zone_id
    for config in (staging, prod):
        names = [config.dns.origin_name, *config.edge.aliases]
        assert all(n.endswith("." + config.dns.zone_name) for n in names), names


@pytest.mark.parametrize(
    ("name", "zone_id", "refused"),
    [
        ("staging.notes.example.com", "Z0OTHERZONE00001", True),
        ("Staging.Notes.Example.Com.", "Z0OTHERZONE00001", True),
        ("staging.notes.example.com", "Z0STAGINGEXAMPLE01", False),
        ("qa.notes.example.com", "Z0OTHERZONE00001", False),
    ],
)
def test_two_stack_files_claiming_one_zone_with_different_ids_are_refused(
    tmp_path: Path, name: str, zone_id: str, refused: bool
) -> None:
    # GIVEN a project directory with staging and a second stack file naming a zone
    for stack in ("staging", "prod"):
        (tmp_path / f"Pulumi.{stack}.yaml").write_text((ROOT / f"Pulumi.{stack}.yaml").read_text())
    document = yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())
    document["config"]["notes-platform:dnsZoneName"] = name
    document["config"]["notes-platform:dnsZoneId"] = zone_id
    (tmp_path / "Pulumi.qa.yaml").write_text(yaml.safe_dump(document))
    # WHEN staging is loaded from that directory
    if not refused:
        assert load_stack("staging", tmp_path).dns.zone_id == "Z0STAGINGEXAMPLE01"
        return
    with pytest.raises(StackConfigError) as caught:
        load_stack("staging", tmp_path)
    # THEN the error names both files and the key
    message = str(caught.value)
    assert message.startswith("Pulumi.staging.yaml: notes-platform:dnsZoneId: Z0STAGINGEXAMPLE01"), message
    assert f"Pulumi.qa.yaml gives notes-platform:dnsZoneId {zone_id}" in message, message
    # AND the engine's path (values, not files) is refused the same way
    with pytest.raises(StackConfigError, match=r"Pulumi\.qa\.yaml gives notes-platform:dnsZoneId"):
        load(engine_config(read_stack_file("staging")), "staging", tmp_path)


@pytest.mark.parametrize(
    ("zones", "words"),
    [
        ([], "List should have at least 1 item"),
        ([f"eu-west-1{c}" for c in "abcdefg"], "List should have at most 6 items"),
        (["eu-west-1a", "eu-west-1a"], "['eu-west-1a'] listed more than once"),
        (["eu-west-1"], "['eu-west-1'] are not availability zone names"),
        (["euw1-az1"], "['euw1-az1'] are not availability zone names"),
        ("[eu-west-1a", "expected a list"),
    ],
)
def test_bad_availability_zones_name_the_key(zones: Any, words: str) -> None:
    # GIVEN staging with a bad list of pinned AZs
    message = _error(_staging(networkAvailabilityZones=zones))
    # THEN the error names the file, the key and the problem
    assert "Pulumi.staging.yaml: notes-platform:networkAvailabilityZones: " in message, message
    assert words in message, message


def test_the_zone_count_is_the_pinned_list_only() -> None:
    # GIVEN a stack file that still gives the replaced count
    message = _error(_staging(networkAzCount=2))
    # THEN it is an unknown key: the list's length is the count, so there is one source
    assert "notes-platform:networkAzCount: unknown key" in message, message

"""`notes-platform restore-repoint`: point the app's database secret at a restored cluster.

The steps, each refusing before anything is written when its input is wrong:

1. the restored cluster: DescribeDBClusters of the endpoint's cluster identifier must answer a
   DocumentDB cluster that is ``available``, has a writer, and whose endpoint and port are the
   ones given (a typo never reaches the secret);
2. the secrets: the app's (``notes/<env>/docdb-app``, JSON) and the older URI-only one
   (``notes/<env>/docdb-uri``), each that exists, read at AWSCURRENT; one whose rotation is under
   way (an AWSPENDING version) is refused, since the rotation's finishSecret would later make its
   pending version, which still names the old cluster, current again;
3. the ECS services that read it (the API, required; the export worker, when the stack has one);
4. optionally a TLS connection to the restored cluster with the new credentials (``--check-connect``);
5. the masked diff, a confirmation, then PutSecretValue per secret: without VersionStages,
   Secrets Manager moves AWSCURRENT to the new version and AWSPREVIOUS to the one it left
   (PutSecretValue, Secrets Manager API Reference), so the rollback is one stage move, printed;
6. UpdateService forceNewDeployment on each service: the tasks also re-read the secret on their
   own (NOTES_SECRETS_REFRESH_SECONDS), a new deployment makes it happen now.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from notes_platform.operations.docdb_secret import (
    AppSecret,
    ClusterEndpoint,
    SecretFormatError,
    current_host,
    masked_diff,
    parse_secret,
    repointed,
)

DONE = 0
USAGE = 2
SECRET_PROBLEM = 3
CLUSTER_NOT_READY = 4
NOT_CONFIRMED = 5
CONNECT_REFUSED = 6
SERVICE_PROBLEM = 7
AWS_UNREACHABLE = 8

# The secrets the app has read its DocumentDB URI from: the app user's JSON secret, then the older
# URI-only one. Names as infra/secrets.py secret_name gives them (notes/<env>/<purpose>; a test
# holds the two in step without this module importing the program).
SECRET_PURPOSES = ("docdb-app", "docdb-uri")

Clients = Callable[[str], Any]
"""service -> a boto3 client in the stack's region; tests hand out moto and stubbed clients."""


class RepointError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Request:
    stack: str
    environment: str
    region: str
    compute: str
    """``ecs`` or ``eks`` (config ``compute``): who runs the tasks that read the secret."""
    endpoint: ClusterEndpoint
    port: int
    secret_names: tuple[str, ...]
    eks_namespace: str = "notes"
    check_connect: bool = False
    ca_file: str | None = None
    connect_timeout: float = 10.0
    dry_run: bool = False


@dataclass
class SecretChange:
    arn: str
    version_id: str
    before: AppSecret
    after: AppSecret

    @property
    def changed(self) -> bool:
        return self.before.text() != self.after.text()


@dataclass
class Plan:
    changes: list[SecretChange] = field(default_factory=list)
    cluster: str = ""
    services: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def default_secret_names(environment: str) -> tuple[str, ...]:
    return tuple(f"notes/{environment}/{purpose}" for purpose in SECRET_PURPOSES)


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


# --- reading ----------------------------------------------------------------------------------


def restored_cluster(docdb: Any, endpoint: ClusterEndpoint, port: int) -> str | None:
    """Check the cluster the endpoint names; its managed master secret's ARN, if it has one."""
    from botocore.exceptions import ClientError  # noqa: PLC0415

    try:
        clusters = docdb.describe_db_clusters(DBClusterIdentifier=endpoint.cluster)["DBClusters"]
    except ClientError as exc:
        if _code(exc) == "DBClusterNotFoundFault":
            raise RepointError(
                CLUSTER_NOT_READY, f"no cluster {endpoint.cluster} in {endpoint.region} (DescribeDBClusters)"
            ) from exc
        raise
    cluster = clusters[0]
    where = f"cluster {endpoint.cluster}"
    # The docdb API shares RDS's: an Aurora cluster of that name would answer too.
    if cluster.get("Engine") != "docdb":
        raise RepointError(CLUSTER_NOT_READY, f"{where}: engine {cluster.get('Engine')!r}, not docdb")
    if cluster.get("Status") != "available":
        raise RepointError(
            CLUSTER_NOT_READY,
            f"{where}: status {cluster.get('Status')!r}; wait until it is available "
            "(its instances: `aws docdb wait db-instance-available`)",
        )
    if str(cluster.get("Endpoint", "")).lower() != endpoint.host:
        raise RepointError(CLUSTER_NOT_READY, f"{where}: its endpoint is {cluster.get('Endpoint')}")
    if cluster.get("Port") not in (None, port):
        raise RepointError(CLUSTER_NOT_READY, f"{where}: listens on {cluster.get('Port')}, not {port}")
    if not any(m.get("IsClusterWriter") for m in cluster.get("DBClusterMembers", [])):
        raise RepointError(
            CLUSTER_NOT_READY,
            f"{where}: no writer instance yet: a restore creates the cluster without instances "
            '(`aws docdb create-db-instance`: README, "Day-2 operations", step 4 of the restore runbook)',
        )
    secret = cluster.get("MasterUserSecret") or {}
    arn = secret.get("SecretArn")
    return str(arn) if arn else None


def read_secrets(secrets: Any, names: tuple[str, ...], region: str) -> list[tuple[str, str, AppSecret]]:
    """(ARN, AWSCURRENT version id, value) of each named secret that exists; at least one."""
    from botocore.exceptions import ClientError  # noqa: PLC0415

    found = []
    for name in names:
        try:
            described = secrets.describe_secret(SecretId=name)
        except ClientError as exc:
            if _code(exc) == "ResourceNotFoundException":
                continue
            raise
        if described.get("DeletedDate"):
            continue  # scheduled for deletion: not what any task reads
        stages: dict[str, list[str]] = described.get("VersionIdsToStages", {})
        pending = [v for v, s in stages.items() if "AWSPENDING" in s and "AWSCURRENT" not in s]
        if pending:
            raise RepointError(
                SECRET_PROBLEM,
                f"{name}: a rotation is under way (version {pending[0]} is AWSPENDING): its finishSecret "
                "would make that version, still naming the old cluster, current again. Let it finish, or "
                f"stop it: `aws secretsmanager cancel-rotate-secret --secret-id {name}`, then remove the "
                f"label: `aws secretsmanager update-secret-version-stage --secret-id {name} "
                f"--version-stage AWSPENDING --remove-from-version-id {pending[0]}`",
            )
        value = secrets.get_secret_value(SecretId=described["ARN"], VersionStage="AWSCURRENT")
        try:
            parsed = parse_secret(name, value.get("SecretString", ""))
        except SecretFormatError as exc:
            raise RepointError(SECRET_PROBLEM, str(exc)) from exc
        found.append((described["ARN"], value["VersionId"], parsed))
    if not found:
        raise RepointError(
            SECRET_PROBLEM,
            f"none of the app's database secrets exists in {region}: {', '.join(names)} "
            "(the stack's environment or region, or --secret-id?)",
        )
    return found


def ecs_services(ecs: Any, environment: str) -> tuple[str, list[str], list[str]]:
    """The cluster and the services that read the secret; notes on the ones the stack lacks.
    Names as the program gives them (infra/ecs.py ApiService, infra/worker.py)."""
    cluster = f"notes-{environment}"
    api, worker = f"notes-{environment}-api", f"notes-{environment}-worker"
    answer = ecs.describe_services(cluster=cluster, services=[api, worker])
    active = {s["serviceName"] for s in answer.get("services", []) if s.get("status") == "ACTIVE"}
    if api not in active:
        raise RepointError(
            SERVICE_PROBLEM,
            f"no ACTIVE service {api} in cluster {cluster}: is this the stack's environment and region?",
        )
    notes = [] if worker in active else [f"{worker}: no such service in {cluster}, nothing to redeploy"]
    return cluster, [name for name in (api, worker) if name in active], notes


# --- the optional connection check --------------------------------------------------------------


@dataclass(frozen=True)
class ConnectResult:
    status: str
    """``ok``, ``skipped`` (could not try from here) or ``failed`` (the cluster refused)."""
    saw: str


def with_ca_file(uri: str, ca_file: str) -> str:
    """``uri`` with its tlsCAFile option (names are case-insensitive) set to ``ca_file``."""
    parts = urlsplit(uri)
    options = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() != "tlscafile"]
    options.append(("tlsCAFile", ca_file))
    return urlunsplit(parts._replace(query=urlencode(options, safe="/")))


def check_connection(uri: str, ca_file: str | None, timeout_seconds: float = 10.0) -> ConnectResult:
    """Sign in with ``uri`` and ping its database. A host that cannot be reached from here
    (DocumentDB lives in isolated subnets) is ``skipped``; a TLS or sign-in refusal ``failed``."""
    import ssl  # noqa: PLC0415
    import warnings  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    try:
        from pymongo import MongoClient  # noqa: PLC0415
        from pymongo.errors import PyMongoError  # noqa: PLC0415
    except ImportError:
        return ConnectResult("skipped", "pymongo is not installed (the project's `api` extra)")
    if ca_file is not None:
        if not Path(ca_file).is_file():
            return ConnectResult("skipped", f"no CA file {ca_file} here: pass --ca-file global-bundle.pem")
        uri = with_ca_file(uri, ca_file)
    database = urlsplit(uri).path.lstrip("/") or "admin"
    timeout = int(timeout_seconds * 1000)
    try:
        with warnings.catch_warnings():
            # pymongo warns about feature support whenever a host ends in docdb.amazonaws.com.
            warnings.filterwarnings("ignore", "You appear to be connected to a DocumentDB", UserWarning)
            client: Any = MongoClient(
                uri, serverSelectionTimeoutMS=timeout, connectTimeoutMS=timeout, appname="notes-platform"
            )
    except (PyMongoError, ssl.SSLError) as exc:
        # Raised before any connection: the CA file is not a PEM bundle, an option is malformed.
        return ConnectResult("skipped", f"cannot set up the client here: {exc}")
    try:
        client[database].command("ping")
    except PyMongoError as exc:
        return _refusal(exc)
    finally:
        client.close()
    return ConnectResult("ok", f"signed in and pinged {database}")


def _refusal(exc: Exception) -> ConnectResult:
    """What a failed ping says: an answer from the cluster fails the check, silence skips it."""
    from pymongo.errors import OperationFailure  # noqa: PLC0415

    if isinstance(exc, OperationFailure):
        # 18 AuthenticationFailed: the restored users predate the secret's password.
        hint = (
            " (the db-users task sets it: each new API task's dbusers init container, once the master "
            'secret signs in; README, "Day-2 operations")'
            if exc.code == 18
            else ""
        )
        return ConnectResult("failed", f"the cluster refused: {exc.details or exc}{hint}")
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        return ConnectResult(
            "failed", f"TLS: the cluster's certificate is not signed by the CA given: {text[:300]}"
        )
    return ConnectResult("skipped", f"not reachable from here (run it from inside the VPC): {text[:300]}")


# --- the run -------------------------------------------------------------------------------------


def plan(request: Request, clients: Clients) -> Plan:
    """Everything read and checked; nothing written."""
    result = Plan()
    master_arn = restored_cluster(clients("docdb"), request.endpoint, request.port)
    result.cluster = request.endpoint.cluster
    for arn, version, secret in read_secrets(clients("secretsmanager"), request.secret_names, request.region):
        after = repointed(secret, request.endpoint.host, request.port, master_arn)
        result.changes.append(SecretChange(arn, version, secret, after))
        if secret.document is not None and "masterarn" in secret.document and not master_arn:
            result.notes.append(
                f"{secret.name}: the restored cluster manages no master secret, so masterarn still names "
                "the stack's, the one the tasks' dbusers and the rotation function may read: give the "
                'restored cluster that secret\'s password (README, "Day-2 operations", restore step 3)'
            )
    if request.compute == "ecs":
        _, result.services, notes = ecs_services(clients("ecs"), request.environment)
        result.notes += notes
    return result


def rollback_command(change: SecretChange, new_version: str, region: str) -> str:
    return (
        f"aws secretsmanager update-secret-version-stage --region {region} --secret-id {change.before.name} "
        f"--version-stage AWSCURRENT --move-to-version-id {change.version_id} "
        f"--remove-from-version-id {new_version}"
    )


def write(request: Request, clients: Clients, result: Plan, out: TextIO) -> int:
    """PutSecretValue for each change, then a new deployment of each service."""
    from botocore.exceptions import ClientError  # noqa: PLC0415

    secrets = clients("secretsmanager")
    for change in result.changes:
        if not change.changed:
            print(f"{change.before.name}: already points at {request.endpoint.host}: not written", file=out)
            continue
        # The token makes a retried call idempotent (PutSecretValue: same token and data succeed
        # and do nothing); a fresh one per run, since each run writes a new version.
        written = secrets.put_secret_value(
            SecretId=change.arn, SecretString=change.after.text(), ClientRequestToken=str(uuid.uuid4())
        )
        new_version = written["VersionId"]
        print(
            f"{change.before.name}: version {new_version} is AWSCURRENT, {change.version_id} AWSPREVIOUS.\n"
            f"  rollback: {rollback_command(change, new_version, request.region)}",
            file=out,
        )
    failed = []
    cluster = f"notes-{request.environment}"
    for service in result.services:
        try:
            answer = clients("ecs").update_service(cluster=cluster, service=service, forceNewDeployment=True)
            deployment = answer["service"].get("deployments", [{}])[0].get("id", "?")
            print(f"{service}: new deployment {deployment} started (forceNewDeployment)", file=out)
        except ClientError as exc:
            failed.append(service)
            print(f"{service}: UpdateService failed: {exc}", file=out)
    if request.compute == "eks":
        print(
            f"EKS: the pods re-read the secret within NOTES_SECRETS_REFRESH_SECONDS; to restart them now: "
            f"kubectl -n {request.eks_namespace} rollout restart deployment",
            file=out,
        )
    if failed:
        print(
            f"restore-repoint: the secret is written but {', '.join(failed)} did not redeploy: run "
            f"`aws ecs update-service --cluster {cluster} --service NAME --force-new-deployment` "
            "or roll the secret back (commands above)",
            file=out,
        )
        return SERVICE_PROBLEM
    print(
        f"next: notes-platform verify {request.stack} --outputs OUTPUTS.json (the smoke goes through "
        'the restored cluster; README, "Day-2 operations", says what its docdb checks look at)',
        file=out,
    )
    return DONE


def describe(request: Request, result: Plan, out: TextIO) -> None:
    for change in result.changes:
        print(
            f"{change.before.name} ({change.before.kind}): {current_host(change.before)} -> "
            f"{request.endpoint.host}:{request.port}",
            file=out,
        )
        diff = masked_diff(change.before, change.after)
        print(diff if diff else "  (no change)", file=out)
    if result.services:
        print(f"then a new deployment of: {', '.join(result.services)}", file=out)
    for note in result.notes:
        print(f"note: {note}", file=out)


def connect_step(request: Request, result: Plan, out: TextIO) -> int | None:
    """The ``--check-connect`` verdict; an exit code when the cluster refused."""
    change = result.changes[0]
    outcome = check_connection(change.after.uri, request.ca_file, request.connect_timeout)
    print(f"check-connect: {outcome.status}: {outcome.saw}", file=out)
    return CONNECT_REFUSED if outcome.status == "failed" else None


def execute(request: Request, clients: Clients, confirm: Callable[[], bool], out: TextIO) -> int:
    """The whole step; ``confirm`` asks (or refuses) before anything is written."""
    result = plan(request, clients)
    describe(request, result, out)
    if request.check_connect and (code := connect_step(request, result, out)) is not None:
        return code
    if request.dry_run:
        print("dry run: nothing written", file=out)
        return DONE
    if not confirm():
        return NOT_CONFIRMED
    return write(request, clients, result, out)

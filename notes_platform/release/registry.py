"""The registry side of a promotion, through skopeo: is an image there, what is its manifest
digest, and copy it to another repository without changing that digest.

Why skopeo and not ``docker pull`` / ``docker push``: a manifest digest is the sha256 of the
manifest's bytes (OCI image spec, ``descriptor.md``), and the manifest names each layer by the
digest of its *compressed* blob. Docker's graph-driver store keeps layers uncompressed and
recompresses them on push, so a pull/push round trip can produce a different manifest and digest
(moby/moby#31919, thaJeztah: "compression is not 100% reproducible"; docker/cli#3394). skopeo copies
registry to registry, blob for blob, and ``--preserve-digests`` makes it "fail if the digest cannot
be preserved" (skopeo-copy(1)). ``--all`` copies an image index with every image it lists, so an
index (e.g. with build attestations) keeps its own digest too (skopeo-copy(1), ``--all``). After
the copy the destination's manifest is fetched raw and hashed here, trusting neither tool.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# ECR's registry host: <account>.dkr.ecr.<region>.amazonaws.com (ECR user guide, "Private registry").
_ECR_HOST = re.compile(r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?$")
# The OCI distribution spec's error code for a manifest the repository does not have; ECR and the
# reference registry both send it, and skopeo passes the message through.
_MISSING = re.compile(
    r"manifest unknown|MANIFEST_UNKNOWN|name unknown|NAME_UNKNOWN|repository .* not found", re.I
)
TIMEOUT_SECONDS = 600


class RegistryError(RuntimeError):
    """skopeo is missing, or the registry refused or could not be reached (not a missing image)."""


class ImageMissingError(LookupError):
    """The repository has no manifest with this digest."""


@dataclass(frozen=True)
class Repository:
    """``host/name`` of an image repository, e.g. ``1234.dkr.ecr.eu-west-1.amazonaws.com/prod/notes-api``."""

    host: str
    name: str

    @classmethod
    def parse(cls, url: str) -> Repository:
        host, _, name = url.partition("/")
        if not host or not name or "@" in url or ":" in name:
            raise ValueError(f"{url!r} is not REGISTRY/REPOSITORY (no scheme, tag or digest)")
        return cls(host, name)

    def __str__(self) -> str:
        return f"{self.host}/{self.name}"

    @property
    def ecr_account(self) -> str | None:
        match = _ECR_HOST.match(self.host)
        return match["account"] if match else None

    @property
    def ecr_region(self) -> str | None:
        match = _ECR_HOST.match(self.host)
        return match["region"] if match else None

    def in_environment(self, environment: str, region: str | None) -> Repository:
        """The same repository name under another environment's namespace (``<env>/<name>``, as
        ``infra/image.py`` names it), in ``region`` when this is an ECR host."""
        _, _, rest = self.name.partition("/")
        host = self.host
        if region and (current := self.ecr_region) and current != region:
            host = host.replace(f".dkr.ecr.{current}.", f".dkr.ecr.{region}.")
        return Repository(host, f"{environment}/{rest or self.name}")


def manifest_digest(raw: bytes) -> str:
    """The digest of a manifest: sha256 over its exact bytes (OCI image spec, descriptor.md)."""
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def promoted_tag(digest: str) -> str:
    """The tag a promoted image gets in the destination: derived from the digest, so a second run
    pushes the same tag for the same image (the repositories' tags are IMMUTABLE) and ECR's
    lifecycle rules see a tagged image."""
    return "promoted-" + digest.removeprefix("sha256:")


@dataclass(frozen=True)
class Skopeo:
    """The skopeo commands a promotion needs. ``insecure`` drops TLS for a registry on loopback."""

    authfile: Path | None = None
    insecure: bool = False
    binary: str = "skopeo"

    def _run(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        if shutil.which(self.binary) is None:
            raise RegistryError(f"{self.binary} not found on PATH (Debian/Ubuntu: apt-get install skopeo)")
        try:
            return subprocess.run(  # noqa: S603 (fixed binary, arguments are references we built)
                [self.binary, *args], capture_output=True, timeout=TIMEOUT_SECONDS, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise RegistryError(f"skopeo {args[0]} did not finish in {TIMEOUT_SECONDS} s") from exc

    def _auth(self, prefix: str = "") -> list[str]:
        return [f"--{prefix}authfile", str(self.authfile)] if self.authfile else []

    def _tls(self, prefix: str = "") -> list[str]:
        return [f"--{prefix}tls-verify=false"] if self.insecure else []

    def raw_manifest(self, reference: str) -> bytes:
        """The manifest bytes at ``docker://reference``; :class:`ImageMissingError` when absent."""
        result = self._run("inspect", "--raw", *self._auth(), *self._tls(), f"docker://{reference}")
        if result.returncode != 0:
            message = result.stderr.decode(errors="replace").strip()
            if _MISSING.search(message):
                raise ImageMissingError(f"{reference}: not in the registry ({message})")
            raise RegistryError(f"skopeo inspect {reference}: {message}")
        return result.stdout

    def digest_of(self, reference: str) -> str:
        return manifest_digest(self.raw_manifest(reference))

    def copy(self, source: str, destination: str) -> None:
        result = self._run(
            "copy",
            "--all",
            "--preserve-digests",
            *self._auth("src-"),
            *self._auth("dest-"),
            *self._tls("src-"),
            *self._tls("dest-"),
            f"docker://{source}",
            f"docker://{destination}",
        )
        if result.returncode != 0:
            message = result.stderr.decode(errors="replace").strip()
            raise RegistryError(f"skopeo copy {source} -> {destination}: {message}")


def write_ecr_authfile(clients: list[Any], directory: Path) -> Path:
    """An auth file (containers-auth.json(5): ``{"auths": {HOST: {"auth": base64(user:password)}}}``)
    for the ECR registries the boto3 ``ecr`` clients reach (one per region). ECR's
    GetAuthorizationToken returns ``authorizationToken`` already as base64 of ``AWS:<password>`` and
    the registry as ``proxyEndpoint`` (ECR API reference, "GetAuthorizationToken"; valid 12 hours).
    The file is private to this user and lives only as long as ``directory``; nothing goes on a
    command line, where other processes could read it."""
    auths: dict[str, dict[str, str]] = {}
    for client in clients:
        data = client.get_authorization_token()["authorizationData"][0]
        host = str(data["proxyEndpoint"]).removeprefix("https://").rstrip("/")
        token = str(data["authorizationToken"])
        user, _, _ = base64.b64decode(token).decode().partition(":")
        if not user:
            raise RegistryError(f"ECR returned a token for {host} that is not base64 of user:password")
        auths[host] = {"auth": token}
    path = directory / "auth.json"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump({"auths": auths}, handle)
    return path

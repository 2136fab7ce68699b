"""A real OCI registry on loopback (Debian's docker-registry, the reference distribution server)
and tiny test images pushed into it from OCI layouts written here (no base image can be pulled)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devtools.localservices import free_port, wait_for_port
from notes_platform.release.registry import Skopeo

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _blob(blobs: Path, data: bytes) -> tuple[str, int]:
    digest = hashlib.sha256(data).hexdigest()
    (blobs / digest).write_bytes(data)
    return f"sha256:{digest}", len(data)


def oci_layout(directory: Path, content: str) -> str:
    """An OCI image layout (image-spec ``image-layout.md``) holding one image whose one layer is a
    file with ``content``; returns the manifest digest. Written byte for byte, so it is reproducible."""
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w", format=tarfile.PAX_FORMAT) as archive:
        body = content.encode()
        info = tarfile.TarInfo("promoted.txt")
        info.size, info.mtime = len(body), 0
        archive.addfile(info, io.BytesIO(body))
    layer_digest, layer_size = _blob(blobs, gzip.compress(tar.getvalue(), mtime=0))
    config = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar.getvalue()).hexdigest()]},
        "config": {},
    }
    config_digest, config_size = _blob(blobs, json.dumps(config).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config_size,
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": layer_digest,
                "size": layer_size,
            }
        ],
    }
    manifest_digest, manifest_size = _blob(blobs, json.dumps(manifest).encode())
    (directory / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": manifest_digest,
                "size": manifest_size,
                "annotations": {"org.opencontainers.image.ref.name": "test"},
            }
        ],
    }
    (directory / "index.json").write_text(json.dumps(index))
    return manifest_digest


@dataclass(frozen=True)
class Registry:
    host: str
    root: Path

    def push(self, tmp_path: Path, repository: str, content: str) -> str:
        """Build a one-layer image with ``content`` and push it to ``repository``; its digest."""
        layout = tmp_path / f"layout-{hashlib.sha256(content.encode()).hexdigest()[:8]}"
        digest = oci_layout(layout, content)
        subprocess.run(
            [
                "skopeo",
                "copy",
                "--quiet",
                "--preserve-digests",
                "--dest-tls-verify=false",
                f"oci:{layout}:test",
                f"docker://{self.host}/{repository}:pushed-{digest[7:19]}",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        return digest


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    missing = [tool for tool in ("docker-registry", "skopeo") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed: run scripts/bootstrap.sh (Debian packages)")
    root = tmp_path_factory.mktemp("registry")
    port = free_port()
    config = root / "config.yml"
    # The reference registry's configuration (distribution's docs/configuration.md): filesystem
    # storage under the test's tmp dir, HTTP on loopback only.
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    log = (root / "registry.log").open("wb")
    proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, timeout=20, proc=proc)
        yield Registry(f"127.0.0.1:{port}", root)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def skopeo() -> Skopeo:
    return Skopeo(insecure=True)

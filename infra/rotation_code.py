"""The rotation functions' deployment package: the ``notes_rotation`` package from app/ and, for
the functions that talk to DocumentDB, what ``make rotation-deps`` puts in build/rotation-deps
(pymongo, dnspython and the DocumentDB CA bundle), all at the root of the zip, where Lambda's
Python runtime imports from (``/var/task``, LAMBDA_TASK_ROOT).

Files are listed one by one rather than as a directory archive: a directory would carry
``__pycache__`` and editor files into the package, and the package's hash (and so the
function) would change from one machine to the next.

build/rotation-deps is made online and is not in the repository. The offline plan must still
run without it, so a missing directory is a warning in a preview and under mocks, and an
error, naming ``make rotation-deps``, when the program really deploys.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pulumi
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.settings import get_monitor

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIR = ROOT / "app" / "notes_rotation"
DEPS_DIR = ROOT / "build" / "rotation-deps"
DEPS_TARGET = "make rotation-deps"
# Where Lambda unpacks the package (the runtime's LAMBDA_TASK_ROOT), and so where the CA bundle
# from build/rotation-deps is: the docdb_app function's DOCDB_CA_FILE.
TASK_ROOT = "/var/task"
CA_BUNDLE = "global-bundle.pem"
_SKIPPED_PARTS = frozenset({"__pycache__"})
_SKIPPED_SUFFIXES = (".pyc", ".pyo")


def _files(directory: Path) -> Iterator[Path]:
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        if (
            path.is_file()
            and not _SKIPPED_PARTS & set(relative.parts)
            and path.suffix not in _SKIPPED_SUFFIXES
        ):
            yield path


def package_assets(package_dir: Path = PACKAGE_DIR) -> dict[str, pulumi.Asset | pulumi.Archive]:
    """``notes_rotation/<file>`` -> the file, for every source file of the package."""
    if not (package_dir / "__init__.py").is_file():
        raise ValueError(f"{package_dir} is not the notes_rotation package (no __init__.py)")
    return {
        f"{package_dir.name}/{path.relative_to(package_dir).as_posix()}": pulumi.FileAsset(str(path))
        for path in _files(package_dir)
    }


def deps_assets(deps_dir: Path = DEPS_DIR) -> dict[str, pulumi.Asset | pulumi.Archive]:
    """Every file ``make rotation-deps`` installed, at the root of the package."""
    return {path.relative_to(deps_dir).as_posix(): pulumi.FileAsset(str(path)) for path in _files(deps_dir)}


def deps_present(deps_dir: Path = DEPS_DIR) -> bool:
    """Whether ``make rotation-deps`` has run: pymongo installed and the CA bundle fetched."""
    return (deps_dir / "pymongo" / "__init__.py").is_file() and (deps_dir / CA_BUNDLE).is_file()


def deploying() -> bool:
    """Whether this run changes real resources: not a preview, and not the offline plan's mocks
    (``set_mocks`` runs with preview off, so ``is_dry_run`` alone cannot tell)."""
    return not pulumi.runtime.is_dry_run() and not isinstance(get_monitor(), MockMonitor)


def code_archive(
    *, with_deps: bool, package_dir: Path = PACKAGE_DIR, deps_dir: Path = DEPS_DIR
) -> pulumi.AssetArchive:
    """The zip Lambda runs: the package, and build/rotation-deps when ``with_deps``.

    Without build/rotation-deps a deployment stops here, naming the make target; a preview or
    the offline plan warns and packages the function without it."""
    assets = package_assets(package_dir)
    # Named from the project's root in messages: the same words on every machine.
    shown = deps_dir.relative_to(ROOT) if deps_dir.is_relative_to(ROOT) else deps_dir
    if with_deps:
        if deps_present(deps_dir):
            clash = sorted(set(assets) & set(deps_assets(deps_dir)))
            if clash:
                raise ValueError(f"{shown} holds files of the rotation package itself: {clash[:3]}")
            assets |= deps_assets(deps_dir)
        elif deploying():
            raise ValueError(
                f"{shown} is missing or incomplete: run `{DEPS_TARGET}` before `pulumi up` (the "
                "DocumentDB rotation function needs pymongo, dnspython and the DocumentDB CA bundle)"
            )
        else:
            pulumi.log.warn(
                f"{shown} is missing: the DocumentDB rotation function is planned without pymongo and "
                f"the CA bundle; run `{DEPS_TARGET}` before `pulumi up`"
            )
    return pulumi.AssetArchive(assets)

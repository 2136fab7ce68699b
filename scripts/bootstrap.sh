#!/usr/bin/env bash
# Installs what this project needs, idempotently: Debian packages (only the missing ones)
# and the Python virtual environment in .venv (reinstalled only when pyproject.toml changes).
#
#   scripts/bootstrap.sh            Python packages + redis-server and graphviz (tests, dev, plan, graph)
#   scripts/bootstrap.sh image      + buildah, podman and friends (make image-test)
#   scripts/bootstrap.sh bench      + wrk (make bench)
set -euo pipefail
cd "$(dirname "$0")/.."

# graphviz: the `dot` binary that `notes-platform graph --svg` drives.
# shellcheck: actionlint (scripts/lint-workflows.sh) checks the workflows' run: scripts with it;
# jq: tests/test_workflows.py stands in for `gh api --jq` with it.
# docker-registry + skopeo: the promote tests copy images between repositories of a real registry.
want=(redis-server graphviz strace shellcheck jq docker-registry skopeo)
for extra in "$@"; do
  case "$extra" in
    image) want+=(buildah podman runc skopeo debootstrap uidmap fuse-overlayfs) ;;
    bench) want+=(wrk) ;;
    *) echo "bootstrap: unknown extra '$extra' (use: image, bench)" >&2; exit 2 ;;
  esac
done

missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "bootstrap: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "bootstrap: installing Python packages into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[api,infra,dev]"
  rm -f .venv/.installed-*
  touch "$stamp"
fi

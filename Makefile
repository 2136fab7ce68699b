# One target per CI step. `make test` is the README's test command and what .ci/run calls.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PY := .venv/bin/python
PORT ?= 8000

STACK ?= staging
SNAPSHOT_IMAGE_TAG := 0000000-000000000000

.PHONY: help bootstrap lint typecheck unit test dev image-test bench plan config snapshots cost diagram review-example crash workflows-lint chart-test rotation-deps bench-exports

help:  ## list the targets
	@echo "notes-platform: the Pulumi program (stacks/, infra/), its policy pack (policies/),"
	@echo "the offline tooling (notes_platform/: notes-platform plan|config|review|diff|cost|graph)"
	@echo "and the API (app/)."
	@echo
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14

bootstrap:  ## install Debian and Python dependencies (idempotent)
	@scripts/bootstrap.sh

lint: bootstrap  ## ruff, and zizmor + actionlint on the workflows
	.venv/bin/ruff check .
	.venv/bin/ruff format --check app devtools stacks infra policies notes_platform bench tests bootstrap
	@scripts/lint-workflows.sh

workflows-lint: bootstrap  ## zizmor and actionlint on .github/workflows (their own venv in .tools/workflow-lint)
	@scripts/lint-workflows.sh

typecheck: bootstrap  ## mypy on our own packages
	.venv/bin/mypy

unit: bootstrap  ## the pytest suite
	.venv/bin/pytest

test: lint typecheck unit  ## everything CI runs on every change

chart-test: bootstrap  ## charts/notes-api offline: helm render + strict lint, kubernetes-validate, schema cases, checkov
	$(PY) -c "from devtools.image_test import ensure_checkov; ensure_checkov()"
	.venv/bin/pytest -q tests/charts

plan: bootstrap  ## offline plan of a stack (STACK=staging|prod, JSON=file to write the graph)
	.venv/bin/notes-platform plan $(STACK) $(if $(JSON),--json $(JSON))

cost: bootstrap  ## monthly estimate of a stack (STACK=staging|prod, TRAFFIC=req/s for the capacity table)
	.venv/bin/notes-platform cost $(STACK) $(if $(TRAFFIC),--traffic $(TRAFFIC))

config: bootstrap  ## regenerate Pulumi.yaml's config block from the stack schema (stacks/)
	.venv/bin/notes-platform config --write

snapshots: bootstrap  ## refresh the committed plan snapshots in tests/snapshots/ (tests/stacks checks them)
	for stack in staging prod staging-eks; do \
	  NOTES_PLATFORM_IMAGE_TAG=$(SNAPSHOT_IMAGE_TAG) .venv/bin/notes-platform plan $$stack --quiet --json tests/snapshots/$$stack.json; \
	done
	.venv/bin/notes-platform plan bootstrap --project-dir bootstrap --quiet --json tests/snapshots/bootstrap.json

review-example: bootstrap  ## rewrite the generated preview fixture and README's example review comment
	.venv/bin/python -m tests.notes_platform.review.example

diagram: bootstrap  ## redraw prod from its plan: docs/prod.mmd, docs/prod.svg and README's diagram
	NOTES_PLATFORM_IMAGE_TAG=$(SNAPSHOT_IMAGE_TAG) .venv/bin/notes-platform graph prod \
	  --mermaid docs/prod.mmd --svg docs/prod.svg --readme README.md

dev: bootstrap  ## run the API locally with its own Redis and MongoDB-wire server (PORT=8000)
	PORT=$(PORT) $(PY) -m devtools.devserver

image-test:  ## build the image with buildah, run it with podman, check a round trip
	@scripts/bootstrap.sh image
	$(PY) -m devtools.image_test

bench:  ## wrk benchmark of the API against the bare framework ceiling
	@scripts/bootstrap.sh bench
	$(PY) -m bench.run

bench-exports: bootstrap  ## export worker: exports/min per worker task (1,000 notes) and peak RSS by export size
	$(PY) -m bench.exports

crash: bootstrap  ## fault injection: 2 workers under load, Redis and the database SIGKILLed and restarted, invariants checked
	$(PY) -m devtools.crash

# The docdb_app rotation function's dependencies for the Lambda Python 3.12 runtime on x86_64:
# pymongo and dnspython at app/requirements.txt's pins (binary wheels for that platform, whatever
# the host runs), and the DocumentDB CA bundle from the URL and SHA-256 app/Dockerfile pins, at
# global-bundle.pem (DOCDB_CA_FILE=/var/task/global-bundle.pem once packaged). Needs PyPI and the
# bundle's URL; both deploy workflows (deploy-staging.yml, promote-prod.yml) run it before
# `pulumi up`, which stops without it; offline plans do not need it.
# Idempotent: nothing is fetched again while the pins and the bundle's checksum still match.
ROTATION_DEPS := build/rotation-deps

rotation-deps: bootstrap  ## pymongo + CA bundle for the docdb_app rotation Lambda in build/rotation-deps (online)
	@set -euo pipefail; \
	pins="pymongo==$$(sed -n 's/^pymongo==//p' app/requirements.txt) dnspython==$$(sed -n 's/^dnspython==//p' app/requirements.txt)"; \
	ca_url=$$(sed -n 's/^ARG DOCDB_CA_URL=//p' app/Dockerfile); \
	ca_sha=$$(sed -n 's/^ARG DOCDB_CA_SHA256=//p' app/Dockerfile); \
	case "$$pins" in *"== "*|*"==") echo "rotation-deps: pymongo or dnspython has no == pin in app/requirements.txt" >&2; exit 1;; esac; \
	if [ -z "$$ca_url" ] || [ -z "$$ca_sha" ]; then echo "rotation-deps: no DOCDB_CA_URL/DOCDB_CA_SHA256 in app/Dockerfile" >&2; exit 1; fi; \
	stamp=$(ROTATION_DEPS).stamp; \
	if [ "$$(cat "$$stamp" 2>/dev/null)" != "$$pins" ]; then \
	  echo "rotation-deps: $$pins for CPython 3.12 manylinux2014_x86_64"; \
	  rm -rf $(ROTATION_DEPS) "$$stamp"; \
	  $(PY) -m pip install --quiet --disable-pip-version-check --no-compile --target $(ROTATION_DEPS) \
	    --platform manylinux2014_x86_64 --implementation cp --python-version 3.12 --only-binary=:all: $$pins; \
	  echo "$$pins" > "$$stamp"; \
	fi; \
	bundle=$(ROTATION_DEPS)/global-bundle.pem; \
	if ! echo "$$ca_sha  $$bundle" | sha256sum --check --status 2>/dev/null; then \
	  echo "rotation-deps: $$ca_url"; \
	  $(PY) -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' "$$ca_url" "$$bundle.part" 2>/dev/null \
	    || { rm -f "$$bundle.part"; echo "rotation-deps: cannot download $$ca_url (needs the internet)" >&2; exit 1; }; \
	  echo "$$ca_sha  $$bundle.part" | sha256sum --check --strict --quiet - \
	    || { rm -f "$$bundle.part"; echo "rotation-deps: $$ca_url does not match DOCDB_CA_SHA256 in app/Dockerfile" >&2; exit 1; }; \
	  chmod 0444 "$$bundle.part"; mv -f "$$bundle.part" "$$bundle"; \
	fi; \
	echo "rotation-deps: $(ROTATION_DEPS) holds $$pins and global-bundle.pem"

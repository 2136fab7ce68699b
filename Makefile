# One target per CI step. `make test` is the README's test command and what .ci/run calls.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PY := .venv/bin/python
PORT ?= 8000

STACK ?= staging
SNAPSHOT_IMAGE_TAG := 0000000-000000000000

.PHONY: help bootstrap lint typecheck unit test dev image-test bench plan config snapshots cost diagram review-example crash workflows-lint chart-test

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

crash: bootstrap  ## fault injection: 2 workers under load, Redis and the database SIGKILLed and restarted, invariants checked
	$(PY) -m devtools.crash

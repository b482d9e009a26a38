# The two commands: `make demo` and `make test`. Both set up what they need first.
SHELL := /bin/bash
PY := .venv/bin/python
export NUVYN_WAREHOUSE_DIR ?= $(CURDIR)/.nuvyn/warehouse
DEMO_PAYLOAD := {"workflow_id":"demo_workflow","source_id":"demo_source"}

.PHONY: setup demo test test-unit test-integration test-lane-b bench lint clean

setup:
	@scripts/bootstrap.sh

demo: setup
	NUVYN_JOB_PAYLOAD='$(DEMO_PAYLOAD)' $(PY) -m executor.main metadata_extraction samples/lake auto default --write-to-db
	$(PY) -m executor.cli query --workflow-id demo_workflow --source-id demo_source --format table

test: setup
	$(PY) -m pytest tests -q

test-unit: setup
	$(PY) -m pytest tests/unit -q

test-integration: setup
	$(PY) -m pytest tests/integration -q

test-lane-b:
	@LANE=b scripts/bootstrap.sh
	.venv-b/bin/python -m pytest tests/integration -q

bench: setup
	$(PY) -m bench

lint: setup
	$(PY) -m ruff check executor tests

clean:
	rm -rf .nuvyn build dist *.egg-info

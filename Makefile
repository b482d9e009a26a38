# The two commands: `make demo` and `make test`. Both set up what they need first.
SHELL := /bin/bash
VENV ?= .venv
VENV_B ?= .venv-b
PY := $(VENV)/bin/python
DELTA_A := $(shell sed -n 's/^delta-spark==//p' requirements/lane-a.txt)
# Every local command uses the same warehouse: NUVYN_WAREHOUSE_DIR if set, else Settings' default
# ~/.nuvyn/warehouse (the CLI's too), so a query typed after `make demo` finds its tables.
DEMO_PAYLOAD := {"workflow_id":"demo_workflow","source_id":"demo_source"}

.PHONY: setup demo test test-unit test-system test-integration test-lane-b test-connect wheel submit bench lint clean

setup:
	@VENV=$(VENV) scripts/bootstrap.sh

demo: setup
	NUVYN_JOB_PAYLOAD='$(DEMO_PAYLOAD)' $(PY) -m executor.main metadata_extraction samples/lake auto default --write-to-db
	$(PY) -m executor.cli query --workflow-id demo_workflow --source-id demo_source --format table

test: setup
	$(PY) -m pytest tests -q

test-unit: setup
	$(PY) -m pytest tests/unit -q

# Real processes and servers, no Spark: the API over HTTP, launchers, the reader sandbox, import rules.
test-system: setup
	$(PY) -m pytest tests/system -q

test-integration: setup
	$(PY) -m pytest tests/integration -q

test-lane-b:
	@LANE=b VENV=$(VENV_B) scripts/bootstrap.sh
	$(VENV_B)/bin/python -m pytest tests/integration -q -m "not lane_a_only"

# The Spark Connect lane alone, on both Spark lines: a real Connect server with Delta on 127.0.0.1
# (tests/connect_server.py). `make test` and `make test-lane-b` run it with the rest of tests/integration.
test-connect: setup
	$(PY) -m pytest tests/integration/test_connect.py -q
	@LANE=b VENV=$(VENV_B) scripts/bootstrap.sh
	$(VENV_B)/bin/python -m pytest tests/integration/test_connect.py -q

# The wheel the bundle deploys (databricks.yml builds it the same way).
wheel: setup
	$(PY) scripts/build_wheel.py

# The job under spark-submit, as on a plain Spark cluster (lane A's Spark and Delta). scripts/submit.py
# adds the package's log4j2 config (ERROR only) and drops Ivy's resolution report: the JSON result,
# then the tables' location line. NUVYN_LOG_LEVEL=DEBUG shows everything.
submit: setup
	NUVYN_JOB_PAYLOAD='$(DEMO_PAYLOAD)' PATH="$(abspath $(VENV))/bin:$$PATH" PYSPARK_PYTHON="$(abspath $(VENV))/bin/python" \
	  $(PY) scripts/submit.py --packages io.delta:delta-spark_2.12:$(DELTA_A) \
	  --conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension \
	  --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog \
	  --conf spark.sql.session.timeZone=UTC --conf spark.ui.enabled=false \
	  jobs/metadata_extraction.py metadata_extraction samples/lake auto default --write-to-db

bench: setup
	$(PY) -m bench

lint: setup
	$(PY) -m ruff check executor tests
	$(PY) -m mypy
	$(PY) -m ruff check --target-version py312 --extend-ignore UP017 executor tests scripts jobs bench setup.py

clean:
	rm -rf .nuvyn build dist *.egg-info .databricks

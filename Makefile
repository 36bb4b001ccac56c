# Two commands do everything: `make run` and `make test`.
# Needs only Python 3.11+ and make; everything else is installed into .venv.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Test workers (pytest-xdist), each with its own test database, cache keys and Celery queue; a file's tests
# stay on one worker, so its fixtures are made once; the longest files start first (tests/durations.json, read
# by tests/conftest.py). PYTEST_WORKERS=0 runs them in this process.
PYTEST_WORKERS ?= auto

.PHONY: run test bench lint format clean-data venv

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP)

## Start PostgreSQL + Redis (embedded unless DATABASE_URL/REDIS_URL are set),
## migrate, load the demo data and serve on http://127.0.0.1:8000 with a
## Celery worker and beat. Ctrl-C stops everything.
run: $(STAMP)
	EXCHANGE_DEMO=1 $(PY) scripts/stack.py serve

## Lint, check the layers (docs/architecture.md), validate the OpenAPI schema (no warnings), then the whole
## test suite on PostgreSQL.
test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(PY) scripts/stack.py exec -- $(PY) manage.py spectacular --validate --fail-on-warn --file /dev/null
	$(PY) scripts/stack.py exec -- $(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

## Throughput benchmarks (orders, ledger, settlement); figures are ratios against baselines
## of the same run. BENCH_ARGS="--only ledger" picks parts; see docs/benchmarks.md.
bench: $(STAMP)
	$(PY) scripts/stack.py exec -- $(PY) scripts/bench.py $(BENCH_ARGS)

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## Delete the embedded databases and keys (asks nothing: be sure).
clean-data:
	rm -rf .data

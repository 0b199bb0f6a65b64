# The two commands of the quick start, plus the checks and benchmarks they build on.
# Each target first makes sure .venv exists and matches its lock: serving needs only
# requirements.lock; the checks add the test tools of requirements-dev.lock.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test lint lock clean cluster-up cluster-down

run: $(STAMP)
	$(BIN)/authsvc db upgrade
	$(BIN)/authsvc serve

test: $(DEV_STAMP) lint
	$(BIN)/pytest

lint: $(DEV_STAMP)
	$(BIN)/ruff check src tests examples bench
	$(BIN)/ruff format --check src tests examples bench
	$(BIN)/lint-imports
	$(BIN)/mypy

# authsvc clustered on one machine (README "Try authsvc clustered on one machine"): three MariaDB
# Galera nodes on 127.0.0.1:3311-3313 and Redis Sentinels on 26379-26381, the database migrated.
# Safe to run again; cluster-down stops only what cluster-up started.
cluster-up: $(STAMP)
	deploy/cluster/cluster.sh up

cluster-down:
	deploy/cluster/cluster.sh down

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "authsvc needs Python 3.11+"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --editable .
	touch $(STAMP)

$(DEV_STAMP): $(STAMP) requirements-dev.lock
	$(BIN)/python -m pip install --quiet -r requirements-dev.lock
	touch $(DEV_STAMP)

# Re-pins every dependency to the newest release pyproject.toml allows: requirements.lock
# what serving needs, requirements-dev.lock only what the checks add (the runtime pins held).
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade pip
	.lock-venv/bin/python -m pip install --quiet .
	.lock-venv/bin/python -m pip freeze --exclude authsvc > requirements.lock
	.lock-venv/bin/python -m pip install --quiet '.[dev]' --constraint requirements.lock
	{ echo '-r requirements.lock'; \
	  .lock-venv/bin/python -m pip freeze --exclude authsvc | grep -vxF -f requirements.lock; \
	} > requirements-dev.lock
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# The performance comparison of bench/README.md, about 45 minutes on a quiet machine; raw
# results under /tmp/authsvc-bench/<timestamp> (or RESULTS_DIR). Its knobs pass through,
# e.g. `make bench ROUNDS=1 DURATION=3 SOAK_SECONDS=60` for a quick check that it all runs.
.PHONY: bench
bench: $(STAMP)
	export RESULTS_DIR=$${RESULTS_DIR:-/tmp/authsvc-bench/$$(date +%Y%m%dT%H%M%S)}; \
	bench/compare.sh && bench/memory.sh && $(BIN)/python bench/growth.py

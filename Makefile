SHELL := /bin/bash
# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)
BENCH_STAMP := $(VENV)/.bench-installed-$(shell cat requirements-bench.txt | cksum | cut -d' ' -f1)
# pip-compile, in a throwaway venv, for `make lock`; LOCK_ARGS e.g. --upgrade or --upgrade-package django
PIP_TOOLS := pip-tools==7.6.2

.PHONY: venv run run-prod test lint fmt typecheck bench lock clean

# requirements-dev.txt is the whole development set (runtime pins included, pip itself too), every
# file checked against its hash; a production image installs requirements.txt alone.
$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

venv: $(STAMP)

$(BENCH_STAMP): $(STAMP) requirements-bench.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-bench.txt
	@rm -f $(VENV)/.bench-installed-*
	@touch $@

run: venv  ## the whole dev stack: embedded Redis, SQLite, IVS emulator, daphne, Celery worker+beat
	$(BIN)/python -m ivsproject.devtools.run

run-prod: venv  ## the production topology (Procfile: granian, daphne, celery worker + beat) on local PostgreSQL + Redis
	$(BIN)/python deploy/run_prod.py

test: venv  ## pytest on the embedded default (or DATABASE_URL / REDIS_URL when set)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

fmt: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: venv $(BENCH_STAMP)  ## benchmarks (bench/README.md): table + bench/results/latest.json, ~4 min, 127.0.0.1 only
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  { apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk; } >/dev/null 2>&1; }; } || true
	@command -v wrk >/dev/null 2>&1 || echo "bench: wrk not installed; falling back to the Python load generator"
	$(BIN)/python -m bench $(BENCH_ARGS)

lock:  ## re-pin requirements{,-dev,-bench}.txt from their .in files, with hashes (pip-compile); keeps current pins
	rm -rf /tmp/ivs-lock && $(PYTHON) -m venv /tmp/ivs-lock && /tmp/ivs-lock/bin/pip install -q "$(PIP_TOOLS)"
	# In this order: each set is constrained to the pins of the one before it.
	for name in requirements requirements-dev requirements-bench; do \
	  /tmp/ivs-lock/bin/pip-compile -q --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
	    --no-emit-find-links --no-header $(LOCK_ARGS) -o $$name.txt $$name.in || exit 1; \
	  { echo "# Pinned with hashes from $$name.in by \`make lock\` (pip-compile); edit the .in file, not this one."; \
	    grep -v '^# Pinned with hashes from' $$name.txt; } > $$name.txt.tmp && mv $$name.txt.tmp $$name.txt; \
	done

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

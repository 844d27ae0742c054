SHELL := /bin/bash
# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)

.PHONY: venv run run-prod test lint fmt typecheck bench lock clean

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

venv: $(STAMP)

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

bench: venv  ## benchmarks (bench/README.md): table + bench/results/latest.json, ~4 min, 127.0.0.1 only
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  { apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk; } >/dev/null 2>&1; }; } || true
	@command -v wrk >/dev/null 2>&1 || echo "bench: wrk not installed; falling back to the Python load generator"
	$(BIN)/python -m bench $(BENCH_ARGS)

lock:  ## re-pin requirements*.txt from requirements*.in in throwaway venvs
	rm -rf /tmp/ivs-lock && $(PYTHON) -m venv /tmp/ivs-lock/rt && $(PYTHON) -m venv /tmp/ivs-lock/dev
	/tmp/ivs-lock/rt/bin/pip install -q -r requirements.in && /tmp/ivs-lock/dev/bin/pip install -q -r requirements-dev.in
	(echo "# Pinned runtime tree, generated from requirements.in by \`make lock\`."; /tmp/ivs-lock/rt/bin/pip freeze) > requirements.txt
	(echo "# Pinned dev/test tree on top of requirements.txt, generated from requirements-dev.in by \`make lock\`."; \
	 echo "-r requirements.txt"; comm -13 <(/tmp/ivs-lock/rt/bin/pip freeze | sort) <(/tmp/ivs-lock/dev/bin/pip freeze | sort)) > requirements-dev.txt

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

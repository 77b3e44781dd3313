# The two commands: `make run` starts the whole product, `make test` runs every test.
# Both install what they need, idempotently.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
REQ_HASH := $(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)
VENV_STAMP := $(VENV)/.installed-$(REQ_HASH)
EDITOR_BUNDLE := static/editor/editor.js
EDITOR_SOURCES := $(wildcard frontend/src/*) frontend/package.json frontend/package-lock.json $(wildcard frontend/*.py) $(wildcard frontend/*.mjs) $(wildcard frontend/*.js)

RUN_APT := redis-server
TEST_APT := redis-server chromium postgresql
# The database-backed tests that run a second time on PostgreSQL (a private server the run starts).
POSTGRES_TESTS ?= tests/labs tests/clouds tests/teaching
# Tests run in parallel processes (pytest-xdist): most of them wait on sandboxes, Celery and browsers,
# so more workers than the 2 cores keep both busy. Each worker starts its own Redis, sandboxes, test
# database and product processes on free ports. A module's tests that share a module-scoped fixture
# stay on one worker (loadgroup, see tests/conftest.py); collection order is kept so that each
# worker runs its browser tests last. TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= 3
PYTEST_PARALLEL := -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder

.PHONY: run test deps test-deps sysdeps-run sysdeps-test venv frontend bench clean

run: deps
	$(PY) -m liveops.launcher

test: test-deps
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest $(PYTEST_PARALLEL)
	$(PY) tests/run_on_postgres.py $(POSTGRES_TESTS) -q -p no:randomly $(PYTEST_PARALLEL)

deps: sysdeps-run venv frontend
test-deps: sysdeps-test venv frontend

# System packages, installed when missing (needs root; otherwise says what to install).
define ensure_apt
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if ! command -v kubectl >/dev/null 2>&1; then missing="$$missing kubernetes-client"; fi; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then echo "Installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "Missing system packages:$$missing (run as root, or install them)"; exit 1; fi; \
	fi
endef

sysdeps-run:
	$(call ensure_apt,$(RUN_APT))

sysdeps-test:
	$(call ensure_apt,$(TEST_APT))

venv: $(VENV_STAMP)

$(VENV_STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*; touch $@

frontend: $(EDITOR_BUNDLE)

$(EDITOR_BUNDLE): $(EDITOR_SOURCES) | $(VENV_STAMP)
	cd frontend && npm ci --no-audit --no-fund --loglevel=error && PYTHON=../$(PY) npm run build --silent

bench: deps
	$(PY) bench/run_all.py

clean:
	rm -rf var/run var/test-*

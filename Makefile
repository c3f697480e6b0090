# Development tasks. The virtualenv is (re)installed only when a lock file or pyproject.toml is newer than its
# stamp; it installs the exact, hashed versions of requirements-dev.lock, then the project itself without deps.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python

LOCK_FLAGS := --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links

.PHONY: venv lock run test lint bench bench-peers clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements-dev.lock requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --require-hashes -r requirements-dev.lock
	$(PY) -m pip install --no-deps -e '.[embedded,dev]'
	$(PY) -m pip check
	touch $@

# Re-resolves both lock files from pyproject.toml, keeping every pin that still fits (add --upgrade or
# --upgrade-package NAME to LOCK_ARGS to move). Resolves against the default package index only, ignoring any
# machine-local pip configuration, so the hashes cover every file of each release.
lock:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet 'pip-tools>=7.4'
	env -u PIP_FIND_LINKS -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL PIP_CONFIG_FILE=/dev/null $(VENV)/bin/pip-compile \
		$(LOCK_FLAGS) $(LOCK_ARGS) --extra embedded --extra dev -o requirements-dev.lock pyproject.toml
	env -u PIP_FIND_LINKS -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL PIP_CONFIG_FILE=/dev/null $(VENV)/bin/pip-compile \
		$(LOCK_FLAGS) -c requirements-dev.lock -o requirements.lock pyproject.toml

run: venv
	$(PY) main.py demo --port $${PORT:-8000}

# Two xdist workers by default (`make test PYTEST_ARGS=` runs serially): each is a test run of its own (a random
# CRM_DB_PREFIX, so its own databases and job queues; without DATABASE_URL / REDIS_URL its own embedded servers
# too). The whole suite peaked at 28 PostgreSQL connections on the machine's server this way.
PYTEST_ARGS ?= -n 2

test: venv
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# Every benchmark but bench/peers.py, which installs PostGraphile from the npm registry: `make bench-peers`.
bench: venv
	@set -e; for script in bench/*.py; do \
		case "$$script" in bench/harness.py|bench/floor_server.py|bench/peers.py) continue;; esac; \
		echo "== $$script"; \
		$(PY) "$$script"; \
	done

# The API side by side with PostGraphile 4 (plain and with row-level security); skips without npm.
bench-peers: venv
	$(PY) bench/peers.py $(PEERS_ARGS)

clean:
	rm -rf .data

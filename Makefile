# The two commands: `make demo` and `make test`. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
LOCK := vibetuner-py/constraints.txt
STAMP := $(VENV)/.installed-$(shell cat vibetuner-py/pyproject.toml $(LOCK) | cksum | cut -d' ' -f1)
# Everything resolves as of the lock's date: the apps the tests and the demo generate (uv
# sync, npm install) get the versions the lock was made with, not last night's releases.
LOCK_DATE := $(shell sed -n 's/.*--exclude-newer \([^ ]*\).*/\1/p' $(LOCK) | head -1)
export UV_EXCLUDE_NEWER := $(LOCK_DATE)
export npm_config_before := $(LOCK_DATE)
DEMO := demo
DEMO_PORT ?= 8000

.PHONY: help install lock system-deps demo demo-app test lint typecheck pytest bench scale-demo scale-bench clean

help:
	@echo "make demo   scaffold ./$(DEMO) and serve it on http://127.0.0.1:$(DEMO_PORT)"
	@echo "make test   install what the tests need and run lint, types and every test"
	@echo "make bench  benchmark the demo app against a raw Starlette app"
	@echo "make scale-demo   3 instances of the demo app behind Caddy (Ctrl-C stops)"
	@echo "make scale-bench  60 s of mixed load at 64 connections through Caddy"

$(STAMP):
	@command -v $(PYTHON) >/dev/null || { echo "Install Python 3.11+ first"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q uv==0.13.9
	$(BIN)/uv pip install --python $(BIN)/python -q -c $(LOCK) -e 'vibetuner-py[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

# Upgrading dependencies is a commit: refresh the lock as of today, then run make test.
lock: install
	cd vibetuner-py && $(BIN)/uv pip compile pyproject.toml --all-extras --universal \
	  --python-version 3.11 --exclude-newer $$(date -u +%Y-%m-%dT00:00:00Z) -o constraints.txt -q

# Servers and the browser the tests start themselves; installed from apt when we are root.
APT_NEEDS := $(if $(shell command -v redis-server),,redis-server) $(if $(wildcard /usr/bin/chromium),,chromium) \
  $(if $(shell command -v caddy),,caddy) $(if $(shell command -v wrk),,wrk)
system-deps:
	@if [ -n "$(strip $(APT_NEEDS))" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing $(strip $(APT_NEEDS)) from apt"; \
	    (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_NEEDS) >/dev/null; \
	  else echo "note: missing $(APT_NEEDS); their tests skip (sudo apt-get install $(APT_NEEDS))"; fi; \
	fi
	@if [ "$$(id -u)" = 0 ]; then bash scripts/setup-podman.sh; \
	else command -v podman >/dev/null || echo "note: no podman; the container tests skip (sudo bash scripts/setup-podman.sh)"; fi

demo-app: install
	@if [ ! -f $(DEMO)/pyproject.toml ]; then \
	  rm -rf $(DEMO) && $(BIN)/vibetuner scaffold new $(DEMO) --defaults --data project_name=Demo; \
	else echo "Reusing ./$(DEMO)"; fi

demo: demo-app
	cd $(DEMO) && .venv/bin/vibetuner run dev --port $(DEMO_PORT)

lint: install
	$(BIN)/ruff check vibetuner-py bench scale
	$(BIN)/ruff format --check vibetuner-py bench scale

typecheck: install
	cd vibetuner-py && $(BIN)/mypy

# As root (CI) the browser and servers are installed above, so their tests must not skip.
pytest: install system-deps
	cd vibetuner-py && VIBETUNER_REQUIRE_BROWSER=$$([ "$$(id -u)" = 0 ] && echo 1) \
	  VIBETUNER_REQUIRE_CONTAINERS=$$([ "$$(id -u)" = 0 ] && echo 1) $(BIN)/pytest -p no:cacheprovider

test: lint typecheck pytest

bench: demo-app
	cd $(DEMO) && npm run build-prod >/dev/null
	$(BIN)/python bench/run.py --app-dir $(DEMO)

scale-demo: demo-app system-deps
	$(BIN)/python scale/run.py demo --app-dir $(DEMO)

scale-bench: demo-app system-deps
	$(BIN)/python scale/run.py bench --app-dir $(DEMO) --duration 60 --connections 64

clean:
	rm -rf $(VENV) $(DEMO) vibetuner-py/.pytest_cache vibetuner-py/.mypy_cache

# Maintainers: after wrapping new framework strings in _(), refresh its catalogs and translate
# what tests/i18n/test_catalogs.py reports as missing.
i18n-framework: install
	$(BIN)/python -c "from vibetuner.i18n._messages import refresh_framework as r; [print(c) for c in r()]"

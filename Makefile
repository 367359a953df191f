# The two commands: `make demo` and `make test`. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat vibetuner-py/pyproject.toml | cksum | cut -d' ' -f1)
DEMO := demo
DEMO_PORT ?= 8000

.PHONY: help install system-deps demo demo-app test lint typecheck pytest bench clean

help:
	@echo "make demo   scaffold ./$(DEMO) and serve it on http://127.0.0.1:$(DEMO_PORT)"
	@echo "make test   install what the tests need and run lint, types and every test"
	@echo "make bench  benchmark the demo app against a raw Starlette app"

$(STAMP):
	@command -v $(PYTHON) >/dev/null || { echo "Install Python 3.11+ first"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip uv
	$(BIN)/uv pip install --python $(BIN)/python -q -e 'vibetuner-py[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

# Servers the tests start themselves; installed from apt when we are root.
system-deps:
	@if ! command -v redis-server >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	  else echo "note: redis-server is missing; its tests will be skipped (sudo apt-get install redis-server)"; fi; \
	fi

demo-app: install
	@if [ ! -f $(DEMO)/pyproject.toml ]; then \
	  rm -rf $(DEMO) && $(BIN)/vibetuner scaffold new $(DEMO) --defaults --data project_name=Demo; \
	else echo "Reusing ./$(DEMO)"; fi

demo: demo-app
	cd $(DEMO) && .venv/bin/vibetuner run dev --port $(DEMO_PORT)

lint: install
	$(BIN)/ruff check vibetuner-py bench
	$(BIN)/ruff format --check vibetuner-py bench

typecheck: install
	cd vibetuner-py && $(BIN)/mypy

pytest: install system-deps
	cd vibetuner-py && $(BIN)/pytest -p no:cacheprovider

test: lint typecheck pytest

bench: demo-app
	cd $(DEMO) && npm run build-prod >/dev/null
	$(BIN)/python bench/run.py --app-dir $(DEMO)

clean:
	rm -rf $(VENV) $(DEMO) vibetuner-py/.pytest_cache vibetuner-py/.mypy_cache

# claude-telemetry: install, test, lint, demo, bench.
#
# Inside an active virtual environment everything installs there. Outside one, it goes into .venv
# here (Debian's and Ubuntu's Python refuse system-wide pip installs): activate it with
# `. .venv/bin/activate`, or call .venv/bin/claude-telemetry.
SYSTEM_PYTHON ?= python3
ifdef VIRTUAL_ENV
PYTHON := $(VIRTUAL_ENV)/bin/python
VENV_READY :=
else
PYTHON := .venv/bin/python
VENV_READY := .venv/bin/python
endif
BIN := $(dir $(PYTHON))
PIP := $(PYTHON) -m pip --disable-pip-version-check -q
# Versions the tests were last run with: a green run today stays green tomorrow.
CONSTRAINTS := -c constraints.txt
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install install-dev test lint demo bench

.venv/bin/python:
	@$(SYSTEM_PYTHON) -m venv .venv 2>/dev/null || { \
		rm -rf .venv; \
		echo "installing python3-venv (Debian package), needed to create .venv"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq python3-venv >/dev/null \
			&& $(SYSTEM_PYTHON) -m venv .venv; }

## install: the tool and its runtime dependencies (puts `claude-telemetry` in .venv/bin, or the active venv)
install: $(VENV_READY)
	$(PIP) install $(CONSTRAINTS) -e .
	@[ -n "$$VIRTUAL_ENV" ] || echo "installed in .venv: run '. .venv/bin/activate' to put claude-telemetry on PATH"

## install-dev: plus the test tools, the rotel collector (from PyPI) and the Prometheus server (Debian)
install-dev: $(VENV_READY)
	$(PIP) install $(CONSTRAINTS) -e '.[dev]'
	@command -v prometheus >/dev/null 2>&1 || { \
		echo "installing the Prometheus server (Debian package)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq prometheus >/dev/null; }

## test: lint, then everything, including integration tests against a real collector and Prometheus
test: install-dev
	$(MAKE) --no-print-directory lint
	$(PYTHON) -m pytest

lint:
	$(PYTHON) -m ruff check claude_telemetry_cli tests benchmarks
	$(PYTHON) -m ruff format --check claude_telemetry_cli tests benchmarks
	$(BIN)lint-imports

## demo: replay the quickstart scenario to the console exporters; needs no server
demo: install
	CLAUDE_CODE_ENABLE_TELEMETRY=1 OTEL_METRICS_EXPORTER=console OTEL_LOGS_EXPORTER=console \
		$(BIN)claude-telemetry run quickstart

bench: install-dev
	$(PYTHON) benchmarks/replay.py
	$(PYTHON) benchmarks/receiver.py
	$(PYTHON) benchmarks/verified_load.py
	$(PYTHON) benchmarks/generate.py
	$(PYTHON) benchmarks/load.py --fleet 2000,5000,10000

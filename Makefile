# claude-telemetry: install, test, lint, demo, bench.
PYTHON ?= python3
PIP := $(PYTHON) -m pip
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install install-dev test lint demo bench

## install: the tool and its runtime dependencies (puts `claude-telemetry` on PATH)
install:
	$(PIP) install --disable-pip-version-check -q -e .

## install-dev: plus the test tools, the rotel collector (from PyPI) and the Prometheus server (Debian)
install-dev:
	$(PIP) install --disable-pip-version-check -q -e '.[dev]'
	@command -v prometheus >/dev/null 2>&1 || { \
		echo "installing the Prometheus server (Debian package)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq prometheus >/dev/null; }

## test: everything, including integration tests against a real collector and Prometheus
test: install-dev
	$(PYTHON) -m pytest

lint:
	$(PYTHON) -m ruff check claude_telemetry_cli tests benchmarks
	$(PYTHON) -m ruff format --check claude_telemetry_cli tests benchmarks

## demo: replay the quickstart scenario to the console exporters; needs no server
demo: install
	CLAUDE_CODE_ENABLE_TELEMETRY=1 OTEL_METRICS_EXPORTER=console OTEL_LOGS_EXPORTER=console \
		claude-telemetry run quickstart

bench: install-dev
	$(PYTHON) benchmarks/replay.py
	$(PYTHON) benchmarks/receiver.py
	$(PYTHON) benchmarks/generate.py
	$(PYTHON) benchmarks/load.py --fleet 2000,5000,10000

# Two commands set everything up on a machine with only Python 3.11+: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install clean-data asyncapi browser

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## Start the whole stack in the foreground (embedded PostgreSQL and broker unless
## DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS are set). Ctrl-C stops all of it.
run: $(STAMP)
	exec $(BIN)/python -m deploy.devstack

## Debian's Chromium for the browser tests (Playwright drives it; its own browsers are never
## downloaded), with a Korean font. Installed by apt-get when it is missing: as root, or with sudo.
CHROMIUM ?= /usr/bin/chromium
browser:
	@if [ -x "$(CHROMIUM)" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO=sudo; \
	else echo "error: $(CHROMIUM) is missing and cannot be installed (not root, no sudo)." >&2; \
	     echo "       Install it: apt-get install chromium (or set CHROMIUM=/path/to/chromium)." >&2; exit 1; fi; \
	echo "Installing Debian's chromium for the browser tests…"; \
	$$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium fonts-noto-cjk \
	|| { echo "error: apt-get could not install chromium." >&2; exit 1; }

## The whole test suite, against a real PostgreSQL and a real Kafka-protocol broker.
test: $(STAMP) browser
	DONGUI_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest $(PYTEST_ARGS)

## Regenerate docs/asyncapi.yaml from the event models.
asyncapi: $(STAMP)
	$(BIN)/python -m shared.asyncapi > docs/asyncapi.yaml

## Forget the development database (kept under .data/ across runs).
clean-data:
	rm -rf .data

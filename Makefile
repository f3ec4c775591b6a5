# Two commands set everything up on a machine with only Python 3.11+: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install clean-data asyncapi

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

## The whole test suite, against a real PostgreSQL and a real Kafka-protocol broker.
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Regenerate docs/asyncapi.yaml from the event models.
asyncapi: $(STAMP)
	$(BIN)/python -m shared.asyncapi > docs/asyncapi.yaml

## Forget the development database (kept under .data/ across runs).
clean-data:
	rm -rf .data

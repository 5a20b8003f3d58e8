# One-command set-up: `make test` and `make run` create the virtual environment on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Pinned: an unpinned torch resolves to a multi-GB CUDA build. On a GPU machine, install the
# CUDA build of the same version first (e.g. TORCH="torch==2.13.0 --index-url <cuda index>").
TORCH ?= torch==2.13.0
# The demo shop in English (DEMO=en, knowledge/demo) or Chinese (DEMO=zh, knowledge/demo/zh).
# Each has its own data directory (data, data-zh), so both can be built and kept side by side.
DEMO ?= en
ifeq ($(filter en zh,$(DEMO)),)
$(error DEMO must be en or zh, got '$(DEMO)')
endif
DEMO_DIR := knowledge/demo$(if $(filter zh,$(DEMO)),/zh)
# The demo's data set is small: fewer optimizer steps than the benchmark defaults are plenty.
# (Chinese: training adds the characters the bundled MiniLM reads as [UNK] to its vocabulary.)
DEMO_TRAIN_FLAGS ?= --min-train-steps 200 --oos-share 0.25
# The English shop also trains on half its out-of-scope rows as outliers, measured on its
# dialogue suite (benchmarks/results/answer_threshold.md); the Chinese one has too few such rows.
# DEMO_TRAIN_FLAGS come after it, so that they can set another share.
DEMO_EXPOSURE := $(if $(filter en,$(DEMO)),--oos-exposure 0.5)
STAMP := $(VENV)/.installed-stamp

DATA_DIR := $(if $(SUPPORTBOT_DATA_DIR),$(SUPPORTBOT_DATA_DIR),$(if $(filter zh,$(DEMO)),data-zh,data))
# the demo's supportbot commands (and `serve`) work in this data directory; `make test` is left alone
db demo-kb demo-bundle build-demo-bundle run: export SUPPORTBOT_DATA_DIR := $(DATA_DIR)
WORK := $(DATA_DIR)/demo-build

.PHONY: install test test-all test-db postgresql db run demo-kb demo-bundle build-demo-bundle clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e ".[train,test]"
	touch $(STAMP)

install: $(STAMP)

# The default test run: lint and types (configured in pyproject.toml), then everything but the
# tests marked slow (real MiniLM, full benchmarks). Cheapest check first: a lint error stops it.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -m "not slow"

test-all: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

# The database tests on both engines: SQLite, and PostgreSQL in a throw-away cluster that the
# tests start on a free port and remove (tests/postgres.py). `make test` runs them too, but skips
# the PostgreSQL variants where its server is missing; here they fail instead.
DB_TESTS := tests/knowledge tests/bot/test_serve_schema.py tests/bot/test_shared_replicas.py tests/bot/test_admission_round_trips.py
test-db: $(STAMP) postgresql
	SUPPORTBOT_TEST_POSTGRES=require $(BIN)/python -m pytest $(DB_TESTS)

# PostgreSQL's server from the distribution's packages (Debian, Ubuntu), installed only when
# missing; Debian keeps initdb off the PATH, in /usr/lib/postgresql/<version>/bin.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
postgresql:
	@if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		echo "Installing PostgreSQL's server (apt-get install postgresql) for the database tests."; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	fi

# The database's schema at this release's revision: creates the tables in a new database,
# migrates one an earlier release made. Before anything else opens the database.
db: $(STAMP)
	$(BIN)/supportbot db upgrade

# Prepare the demo shop's knowledge base (only into an empty database) and its search index.
demo-kb: db
	$(BIN)/supportbot kb import $(DEMO_DIR)/faq.yaml --if-empty
	$(BIN)/supportbot kb index

# The demo bundle, built once: one encoder fine-tuned from the bundled MiniLM for both models
# (intents and FAQ search) on the demo shop's data, exported to int8 ONNX, activated; a training
# workspace for `supportbot retrain`.
demo-bundle: demo-kb
	@if [ -e "$(DATA_DIR)/bundles/current" ]; then \
		echo "Using the active bundle in $(DATA_DIR)/bundles (remove it to rebuild)."; \
	else \
		$(MAKE) --no-print-directory build-demo-bundle; \
	fi

build-demo-bundle: $(STAMP)
	@echo "Building the demo bundle: first run only, a few minutes on 2 CPU cores."
	rm -rf "$(WORK)" && mkdir -p "$(WORK)"
	$(BIN)/supportbot kb export --output "$(WORK)/faq.csv"
	$(BIN)/supportbot train joint --train $(DEMO_DIR)/intents.csv --faq "$(WORK)/faq.csv" \
		--queries $(DEMO_DIR)/queries.csv --out "$(WORK)/joint" $(DEMO_EXPOSURE) $(DEMO_TRAIN_FLAGS)
	$(BIN)/supportbot export --intents "$(WORK)/joint/intents" --retriever "$(WORK)/joint/retriever" --out "$(DATA_DIR)/bundles" \
		--heldout-intents $(DEMO_DIR)/intents_eval.csv --heldout-faq "$(WORK)/faq.csv" \
		--heldout-queries $(DEMO_DIR)/queries.csv --fp32-fallback
	$(BIN)/supportbot retrain init --train $(DEMO_DIR)/intents.csv --eval $(DEMO_DIR)/intents_eval.csv \
		--queries $(DEMO_DIR)/queries.csv --intents-checkpoint "$(WORK)/joint/intents" \
		--retriever-checkpoint "$(WORK)/joint/retriever"

run: demo-bundle
	$(BIN)/supportbot serve

clean:
	rm -rf $(VENV) *.egg-info

# One-command set-up: `make test` and `make run` create the virtual environment on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Pinned: an unpinned torch resolves to a multi-GB CUDA build. On a GPU machine, install the
# CUDA build of the same version first (e.g. TORCH="torch==2.13.0 --index-url <cuda index>").
TORCH ?= torch==2.13.0
STAMP := $(VENV)/.installed-stamp

.PHONY: install test test-all run demo-kb clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e ".[train,test]"
	touch $(STAMP)

install: $(STAMP)

# The default test run: everything but the tests marked slow (real MiniLM, full benchmarks).
test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

test-all: $(STAMP)
	$(BIN)/python -m pytest

# Prepare the demo shop's knowledge base (only into an empty database) and its search index.
demo-kb: $(STAMP)
	$(BIN)/supportbot kb import knowledge/demo/faq.yaml --if-empty
	$(BIN)/supportbot kb index

run: demo-kb
	@echo "The demo knowledge base is ready in $${SUPPORTBOT_DATA_DIR:-data}/."
	@echo "Serving the web chat comes with the bot runtime; until then try:"
	@echo "  $(BIN)/supportbot kb list"

clean:
	rm -rf $(VENV) *.egg-info

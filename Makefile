# make serve: install, then run the bridge on the example config with a local demo store.
# make test:  install, then lint, type-check and run the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_STORE ?= .demo/vault

.PHONY: install serve test lint typecheck pytest clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,fast]'
	touch $(STAMP)

serve: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" MCP_VAULT_DIR=$(DEMO_STORE) $(BIN)/mcp-bridge serve --config examples/bridge.toml --demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# The official TypeScript MCP SDK, for the OAuth client test (skipped, with its reason, without npm).
TS_CLIENT := tests/bridge/oauth/ts_client
$(TS_CLIENT)/node_modules/.installed: $(TS_CLIENT)/package-lock.json
	if command -v npm >/dev/null 2>&1; then \
	  cd $(TS_CLIENT) && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed; \
	else echo "make: npm not found; the TypeScript client test will skip" >&2; fi

pytest: $(STAMP) $(TS_CLIENT)/node_modules/.installed
	$(BIN)/python -m pytest -m "not secret_service" -n 2 --dist loadfile
	bash tests/secret_service.sh $(BIN)/python -m pytest -m secret_service

test: lint typecheck pytest

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache $(TS_CLIENT)/node_modules

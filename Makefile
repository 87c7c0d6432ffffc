# The two commands the README promises: `make demo` and `make test`.
# Everything they need is installed here: a virtualenv with the package and its
# Python dependencies, and Graphviz's `dot` (Debian's graphviz, when we are root).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev

NBVAL  := --nbval notebooks/ --nbval-sanitize-with notebooks/nbval_sanitize.cfg --nbval-current-env

.PHONY: demo test lint bench notebooks dot clean

demo: dot $(VENV)/.installed
	$(BIN)/python -m graflow_nb.demo --out build

# The notebooks are tests too: nbval runs each top to bottom in the venv's kernel and
# compares its outputs with the stored ones (notebooks/nbval_sanitize.cfg says what may vary).
test: dot $(STAMP)
	$(BIN)/ruff check graflow_nb tests benchmarks notebooks
	$(BIN)/python -m pytest graflow_nb tests $(NBVAL)

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/run.py

# Re-run every notebook and store its outputs (after a change that alters what they show).
notebooks: dot $(STAMP)
	cd notebooks && for nb in [0-9]*.ipynb; do \
	  ../$(BIN)/jupyter nbconvert --to notebook --execute --inplace "$$nb" || exit 1; done

dot:
	@command -v dot >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Graphviz (dot) with apt-get"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null) || \
	      { echo "could not install Graphviz: install the 'graphviz' system package (it provides 'dot')"; exit 1; }; \
	  else \
	    echo "Graphviz's 'dot' is missing: install the 'graphviz' system package (apt install graphviz / brew install graphviz)"; exit 1; \
	  fi; }

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(VENV)/.installed $@

clean:
	rm -rf $(VENV) build .pytest_cache

# The two commands the README promises: `make demo` and `make test`.
# Everything they need is installed here: a virtualenv with the package and its
# Python dependencies, Graphviz's `dot` (Debian's graphviz, when we are root), and for
# the browser tests Chromium (Debian's chromium, when we are root).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev

NBVAL  := --nbval notebooks/ --nbval-sanitize-with notebooks/nbval_sanitize.cfg --nbval-current-env

.PHONY: demo test lint bench notebooks dot chromium clean

demo: dot $(VENV)/.installed
	$(BIN)/python -m graflow_nb.demo --out build

# The notebooks are tests too: nbval runs each top to bottom in the venv's kernel and
# compares its outputs with the stored ones (notebooks/nbval_sanitize.cfg says what may vary).
# tests/browser drive JupyterLab in Chromium (screenshots in build/screenshots/).
test: dot chromium $(STAMP)
	$(BIN)/ruff check graflow_nb tests benchmarks notebooks
	$(BIN)/python -m pytest graflow_nb tests $(NBVAL)

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/run.py

# Re-run every notebook and store its outputs (after a change that alters what they show).
notebooks: dot $(STAMP)
	cd notebooks && for nb in [0-9]*.ipynb; do \
	  ../$(BIN)/jupyter nbconvert --to notebook --execute --inplace "$$nb" || exit 1; done

# $(call system_program,COMMANDS,PACKAGE,WHAT,HINT): when none of COMMANDS is on PATH,
# install Debian's PACKAGE with apt-get as root, else stop with one line saying what to install.
define system_program
@for c in $(1); do command -v $$c >/dev/null 2>&1 && exit 0; done; \
  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
    echo "installing $(3) with apt-get"; \
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2) >/dev/null) || \
      { echo "could not install $(3): install the '$(2)' system package$(4)"; exit 1; }; \
  else \
    echo "$(3) is missing: install the '$(2)' system package$(4)"; exit 1; \
  fi
endef

dot:
	$(call system_program,dot,graphviz,Graphviz's 'dot', (apt install graphviz / brew install graphviz))

# Playwright drives the system Chromium (its own browser download is not used).
chromium:
	$(call system_program,chromium chromium-browser,chromium,Chromium,: the browser tests need it)

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

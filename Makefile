# The two commands the README promises: `make demo` and `make test` (and `make docs`, the site).
# Everything they need is installed here: a virtualenv with the package and its
# Python dependencies, Graphviz's `dot` (Debian's graphviz, when we are root), and for
# the browser tests Chromium (Debian's chromium, when we are root).

PYTHON  ?= python3
# The Pythons the fast part of the suite runs on (pyproject's classifiers list the same).
PYTHONS ?= 3.11 3.12 3.13
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-dev
DIST    := dist
WHEEL_VENV  := build/wheel-venv
WHEEL_STAMP := $(WHEEL_VENV)/.installed
# The X.Y of the Python that .venv is made with.
VENV_PYTHON = $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
# What decides an installed environment: the metadata and the version it reports.
INSTALL_INPUTS := pyproject.toml graflow_nb/_version.py

NBVAL  := --nbval notebooks/ --nbval-sanitize-with notebooks/nbval_sanitize.cfg --nbval-current-env

.PHONY: demo docs lite lite-site lite-env pyodide test test-suite test-docs test-prepare lint typecheck dist test-wheel test-wheel-smoke test-pythons bench notebooks dot chromium node js clean

demo: dot $(VENV)/.installed
	$(BIN)/python -m graflow_nb.demo --out build

# The documentation site from docs/ (Sphinx, MyST-NB, pydata-sphinx-theme), into
# build/docs/html/. Every tutorial notebook and every how-to and concepts page runs in
# the venv's python3 kernel while it builds (a cell that raises stops the build), from
# scratch each time (-E: what a page shows is what today's code prints); nothing is
# fetched from the network. The venv's bin/ comes first on PATH, as in an activated venv.
SPHINX = PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m sphinx -b html -q -E
docs: dot $(STAMP)
	$(SPHINX) docs build/docs/html
	@echo "the site is in build/docs/html/index.html"

# As make test builds it: from scratch, every warning an error (a broken link or
# reference, a public name with no reference entry or no docstring, a cell that raises).
test-docs: dot $(STAMP)
	$(SPHINX) -a -W --keep-going -d build/docs-test/doctrees docs build/docs-test/html

# The notebooks are tests too: nbval runs each top to bottom in the venv's kernel and
# compares its outputs with the stored ones (notebooks/nbval_sanitize.cfg says what may vary).
# tests/browser drive JupyterLab in Chromium (screenshots in build/screenshots/).
# Then the built wheel is installed and tried the way a user gets it, and the fast part
# of the suite runs on every other Python in PYTHONS (the whole suite runs on .venv's).
#
# In two rounds of jobs side by side (each job's output is printed whole when it ends):
#   1. ruff, mypy, the whole suite and the docs site (test-docs), while the other
#      Pythons' virtualenvs, the wheel and its virtualenv are built (installing mostly
#      waits on files, not on the CPU);
#   2. the wheel's smoke test and the fast suite on each other Python.
# Every job still runs and must pass; only the waiting overlaps.
OTHER_PYTHONS = $(filter-out $(VENV_PYTHON),$(PYTHONS))
ROUND   := $(MAKE) --no-print-directory -j --output-sync=target
test: dot chromium node pyodide lite-env $(STAMP)
	$(ROUND) lint typecheck test-suite test-docs test-prepare PYTHONS="$(OTHER_PYTHONS)"
	$(ROUND) test-wheel-smoke test-pythons PYTHONS="$(OTHER_PYTHONS)"

test-suite: $(STAMP)
	$(BIN)/python -m pytest graflow_nb tests $(NBVAL)

# What round 2 needs, built in round 1.
test-prepare: $(WHEEL_STAMP) $(addsuffix /.installed-dev,$(addprefix .venvs/,$(PYTHONS)))

lint: $(STAMP)
	$(BIN)/ruff check graflow_nb tests benchmarks notebooks smoke docs

# mypy's scope (the engine and the public names) is set in pyproject.toml.
typecheck: $(STAMP)
	$(BIN)/mypy

# The table of rows (each beside its hand-written floor, with a verdict); the whole JSON
# report goes to build/bench.json.
bench: $(VENV)/.installed
	mkdir -p build
	$(BIN)/python benchmarks/run.py --out build/bench.json --table

# An sdist, then a wheel built from that sdist (what pip does with an sdist); a second
# wheel straight from the tree must hold the same files, so nothing is missing from the sdist.
dist: $(STAMP)
	rm -rf $(DIST) build/wheel-from-tree build/lib build/bdist.*
	mkdir -p build
	$(BIN)/python -m build --outdir $(DIST) . >build/dist.log 2>&1 || { cat build/dist.log; exit 1; }
	$(BIN)/python -m build --wheel --outdir build/wheel-from-tree . >>build/dist.log 2>&1 || { cat build/dist.log; exit 1; }
	$(BIN)/python smoke/same_wheel.py $(DIST)/*.whl build/wheel-from-tree/*.whl
	$(BIN)/twine check --strict $(DIST)/*

# The wheel in a new virtualenv, tried from a directory outside the checkout so only the
# installed package can be imported (smoke/test_installed_wheel.py says what it checks).
test-wheel: dot $(WHEEL_STAMP)
	$(MAKE) --no-print-directory test-wheel-smoke

# A new wheel and its virtualenv, every time (dist always builds).
$(WHEEL_STAMP): dist
	rm -rf $(WHEEL_VENV)
	$(PYTHON) -m venv $(WHEEL_VENV)
	$(WHEEL_VENV)/bin/python -m pip install -q $(DIST)/*.whl pytest mypy
	touch $@

# The smoke test alone, in the virtualenv that test-wheel (or make test's first round) built.
test-wheel-smoke:
	here=$$(mktemp -d) && cp smoke/test_installed_wheel.py "$$here" && cd "$$here" && \
	  GRAFLOW_NB_CHECKOUT="$(CURDIR)" GRAFLOW_NB_WHEEL="$$(ls "$(CURDIR)"/$(DIST)/*.whl)" \
	  "$(CURDIR)/$(WHEEL_VENV)/bin/python" -m pytest -q -p no:cacheprovider test_installed_wheel.py; \
	  status=$$?; rm -rf "$$here"; exit $$status

# The fast part of the suite (no notebooks, no tests marked slow) on each Python, each
# in its own virtualenv under .venvs/.
test-pythons: $(addprefix test-python-,$(PYTHONS))

test-python-%: dot .venvs/%/.installed-dev
	.venvs/$*/bin/python -m pytest graflow_nb tests -q -p no:cacheprovider -m "not slow"

# Kept between runs (make would otherwise delete a stamp only a pattern rule names).
.PRECIOUS: .venvs/%/.installed-dev
.venvs/%/.installed-dev: $(INSTALL_INPUTS)
	rm -rf .venvs/$*
	python=$$(tools/find-python $*) && "$$python" -m venv .venvs/$*
	.venvs/$*/bin/python -m pip install -q --upgrade pip
	.venvs/$*/bin/python -m pip install -q -e '.[dev]'
	.venvs/$*/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

# Re-run every notebook and store its outputs (after a change that alters what they show).
# Without the widgets' state: it would carry the GraphView bundle (0.8 MB) into each notebook.
notebooks: dot $(STAMP)
	cd notebooks && for nb in [0-9]*.ipynb; do \
	  ../$(BIN)/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.store_widget_state=False "$$nb" || exit 1; done

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

# A JupyterLite site of notebooks/ in build/lite/ (Python in the browser, no server):
# graflow_nb's wheel (from `make dist`) is bundled in the site, and each notebook's first
# cell `%pip install`s it from there. Built with no network but the package registries,
# and the site runs from its own files: the Pyodide runtime (the npm package pinned in
# tools/lite-pyodide/package-lock.json) and the pure-Python wheels the kernel and
# graflow_nb need (tools/lite-wheels.txt, from PyPI with their hashes) are in it; only
# Pyodide's compiled packages (pandas, numpy, PyYAML, ...) still come from Pyodide's CDN,
# when a notebook imports them. Serve build/lite/ as static files (GitHub Pages: README,
# "Try it in your browser").
LITE_VENV  := build/lite-venv
LITE_STAMP := $(LITE_VENV)/.installed
LITE_WHEEL ?= $(DIST)/graflow_nb-*.whl
LITE_OUT   ?= build/lite
LITE_PYODIDE       := tools/lite-pyodide/node_modules/pyodide
LITE_WHEELS        := build/lite-wheels

lite: dist lite-env
	$(MAKE) --no-print-directory lite-site
	@echo "the site is in $(LITE_OUT)/ (try: python3 -m http.server -d $(LITE_OUT))"

# The site from an already built wheel (LITE_WHEEL) into LITE_OUT; tests/lite builds one.
lite-site: $(LITE_STAMP)
	rm -rf $(LITE_OUT) $(LITE_OUT).work && mkdir -p $(LITE_OUT).work
	$(LITE_VENV)/bin/python tools/lite_site.py $(LITE_PYODIDE) $(LITE_WHEELS) "$$(ls $(abspath $(LITE_WHEEL)))" \
	  $(LITE_OUT).work >$(LITE_OUT).work.log 2>&1 || { cat $(LITE_OUT).work.log; exit 1; }
	cd $(LITE_OUT).work && "$(CURDIR)/$(LITE_VENV)/bin/jupyter" lite build --contents "$(CURDIR)/notebooks" \
	  --output-dir "$(abspath $(LITE_OUT))" >>"$(abspath $(LITE_OUT)).work.log" 2>&1 || { cat "$(abspath $(LITE_OUT)).work.log"; exit 1; }
	rm -rf $(LITE_OUT).work $(LITE_OUT).work.log

# What the site is built with: the build/lite-venv (tools/lite-requirements.txt), the
# Pyodide runtime (npm ci in tools/lite-pyodide) and the wheels (build/lite-wheels).
lite-env: node $(LITE_STAMP)
$(LITE_STAMP): tools/lite-requirements.txt tools/lite-wheels.txt tools/lite-pyodide/package.json tools/lite-pyodide/package-lock.json
	rm -rf $(LITE_VENV) $(LITE_WHEELS)
	$(PYTHON) -m venv $(LITE_VENV)
	$(LITE_VENV)/bin/python -m pip install -q -r tools/lite-requirements.txt
	$(LITE_VENV)/bin/python -m pip download -q --require-hashes --no-deps --only-binary=:all: --python-version 3.14 \
	  --platform any --implementation py -d $(LITE_WHEELS) -r tools/lite-wheels.txt
	cd tools/lite-pyodide && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# tests/pyodide run graflow_nb's core scenarios inside Pyodide under Node: the npm
# package pinned in tests/pyodide/package-lock.json, installed by `npm ci` (again only
# when the lock file changes).
PYODIDE_STAMP := tests/pyodide/node_modules/.installed
pyodide: node $(PYODIDE_STAMP)
$(PYODIDE_STAMP): tests/pyodide/package.json tests/pyodide/package-lock.json
	cd tests/pyodide && npm ci --no-audit --no-fund --loglevel=error
	touch $@

dot:
	$(call system_program,dot,graphviz,Graphviz's 'dot', (apt install graphviz / brew install graphviz))

# Node.js and npm build the GraphView's JavaScript (js/) and its test rebuilds it; the
# Pyodide tests run under Node too.
node:
	$(call system_program,npm,nodejs npm,Node.js and npm, (apt install nodejs npm): the graph widget's bundle and the Pyodide tests need them)

# The GraphView's bundle, from the pinned packages in js/package-lock.json, into
# graflow_nb/static/graph_view.js (committed: the wheel and an editable install need no
# Node; tests/notebook/test_graph_bundle.py checks it matches its sources).
js: node
	cd js && npm ci --no-audit --no-fund --loglevel=error && node build.mjs

# Playwright drives the system Chromium (its own browser download is not used).
chromium:
	$(call system_program,chromium chromium-browser,chromium,Chromium,: the browser tests need it)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(INSTALL_INPUTS) | $(VENV)/bin/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(STAMP): $(INSTALL_INPUTS) | $(VENV)/bin/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(VENV)/.installed $@

clean:
	rm -rf $(VENV) .venvs $(DIST) build .pytest_cache .mypy_cache js/node_modules tests/pyodide/node_modules tools/lite-pyodide/node_modules

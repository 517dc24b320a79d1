# Two commands (see README):
#   make lab    set up .venv and open the series in JupyterLab
#   make test   set up .venv and run every test (unit tests, strict nbval in fast mode)
# Everything lives in .venv inside this folder; nothing is registered globally.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.aenb-installed

.PHONY: lab test setup book results clean

# JupyterLab refuses to run as root unless told; containers often run as root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: setup
	$(VENV)/bin/jupyter lab $(ROOT_FLAG) notebooks/

test: setup
	$(MAKE) --no-print-directory $(BOOK_RUNTIME)
	AENB_MODE=fast $(PY) -m pytest

setup: $(STAMP)

# Re-install when the dependency list changes.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip
	$(PY) -m pip install --quiet -e .
	touch $(STAMP)

# The static book (README, "The book"): the stored notebooks as HTML with live explorers, in build/book/.
# BOOK_NOTEBOOKS / BOOK_DECODERS point it at other runs.
BOOK_NOTEBOOKS ?= notebooks
BOOK_DECODERS  ?= results/decoders
BOOK_RUNTIME   := book/node_modules/.package-lock.json

book: setup $(BOOK_RUNTIME)
	$(PY) tools/build_book.py --notebooks $(BOOK_NOTEBOOKS) --decoders $(BOOK_DECODERS) --out build/book

# onnxruntime-web and MathJax, exactly as pinned in book/package-lock.json (npm's registry, once).
$(BOOK_RUNTIME): book/package.json book/package-lock.json
	npm ci --prefix book --no-audit --no-fund --ignore-scripts

# Rebuild the README's results and benchmark tables from results/*.json (tools/readme_tables.py).
results: setup
	$(PY) tools/readme_tables.py

clean:
	rm -rf $(VENV) .pytest_cache build/book book/node_modules

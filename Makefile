# Two commands for a fresh machine with python3:  make book  |  make test
# Everything runs in one virtual environment, .venv, created and filled on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(abspath $(VENV))/bin
STAMP  := $(VENV)/.installed
# Notebooks execute with this environment's kernel even if the user has their own `python3`
# kernelspec (Jupyter would otherwise look in ~/.local/share/jupyter first).
export JUPYTER_PATH := $(abspath $(VENV))/share/jupyter

.PHONY: help install book book-tiny test test-fast bench student colab clean

help:
	@echo "make book   - create .venv, install, execute every notebook (or reuse make test's run), HTML in _build/html"
	@echo "make test   - the whole test suite (unit, notebooks, strict book build, browser)"
	@echo "make bench  - benchmarks (ratios measured in one run on this machine)"
	@echo "make student - a student edition of the notebooks, solutions removed, in _build/student"
	@echo "make colab  - the Colab edition (plain notebooks, measured values written in) in _build/colab, and"
	@echo "              its student form in _build/colab-student, from the cpu execution (run first if needed)"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# renders the cpu execution `make test` kept in _build/executed/cpu when the sources have not changed
# since; otherwise Jupyter Book executes every notebook (tools/executed_book.py)
book: $(STAMP)
	LLMCOURSE_QUIET=1 $(BIN)/python tools/executed_book.py build

book-tiny: $(STAMP)
	LLMCOURSE_QUIET=1 LLMCOURSE_PRESET=tiny $(BIN)/jupyter-book build . -W -n --keep-going

# two pytest workers; a module's tests, and modules sharing an expensive fixture, stay on one (tests/conftest.py)
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --durations=30

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

bench: $(STAMP)
	$(BIN)/python -m benchmarks

student: $(STAMP)
	$(BIN)/python tools/student_edition.py _build/student

# from make test's kept cpu execution (_build/executed/cpu) when current; otherwise it executes every
# notebook first and keeps that execution, which make book then renders (tools/colab_edition.py)
colab: $(STAMP)
	LLMCOURSE_QUIET=1 $(BIN)/python tools/colab_edition.py

clean:
	rm -rf _build

# Two commands for a fresh clone (see README.md):
#   make book   set up .venv, execute the notebooks, build the HTML book into _build/html
#   make test   set up .venv and Chromium (apt-get, when missing and allowed), then unit tests +
#               every notebook (smoke profile) + a strict book build, then the built site in a
#               real browser (tests/browser)
# Offline: point D2LNOTES_DATA at a folder holding FashionMNIST/raw (relative paths are fine).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Builds the book in a strict mode (warnings are errors). The script keys the build on the
# profile and on d2lnotes' source: when either changes, the execution cache, the pages and
# Sphinx's saved environment are all removed, so every page is executed and written anew.
BOOK   := D2LNOTES_PYTHON=$(BIN)/python .ci/build-book . -W -n --keep-going
SITE   := _build/html
# The Chromium the browser tests drive: D2LNOTES_CHROMIUM, or the system's, installed with
# apt-get when missing and this user may (root or passwordless sudo); else a message says how.
CHROMIUM := .ci/ensure-chromium
# The built book as a reader sees it: every page in Chromium, served from 127.0.0.1;
# screenshots go to _build/screenshots.
SITE_TEST := chromium="$$($(CHROMIUM))" && D2LNOTES_CHROMIUM="$$chromium" \
	D2LNOTES_SITE=$(SITE) $(BIN)/python -m pytest --durations=5 tests/browser

# Notebooks run from their own folders, so hand them an absolute data path.
ifdef D2LNOTES_DATA
export D2LNOTES_DATA := $(abspath $(D2LNOTES_DATA))
endif

.PHONY: book test site-test unit notebooks book-strict clean help gpu-check

help:
	@echo "make book   build the HTML book into _build/html (profile: \$$D2LNOTES_PROFILE, default auto)"
	@echo "make test   unit tests, every notebook under nbmake (smoke), strict book build (smoke),"
	@echo "            then every page of the built book in Chromium (tests/browser)"
	@echo "make site-test  only the browser tests, on the book already in $(SITE)"
	@echo "make clean  remove _build (keeps .venv)"

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -e .
	@touch $@

book: $(STAMP)
	$(BOOK)
	@echo "Book written to _build/html/index.html"

test: export D2LNOTES_PROFILE := smoke
test: $(STAMP)
	@$(CHROMIUM) >/dev/null
	D2LNOTES_SITE= $(BIN)/python -m pytest --nbmake --nbmake-timeout=120 --durations=10 tests notebooks
	$(BOOK)
	$(SITE_TEST)

site-test: $(STAMP)
	$(SITE_TEST)

clean:
	rm -rf _build

# On a CUDA machine: the GPU tests, train_speed at 96 and 224 px against d2l, full-profile runs
# of both recipes and time to accuracy, in one folder benchmarks/results/<date>-gpu-check (and
# $OUT/*.tar.gz when OUT is set), under a hard time budget. No venv needed: the .venv's python
# if there is one, else $(PYTHON); `make gpu-check PYTHON=python3` forces one.
# REHEARSAL=1: the same sequence on the CPU at smoke sizes (into runs/gpu-check-rehearsal).
GPU_PYTHON = $(if $(filter command line,$(origin PYTHON)),$(PYTHON),$(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON)))
gpu-check:
	PYTHONPATH=.$${PYTHONPATH:+:$$PYTHONPATH} $(GPU_PYTHON) benchmarks/gpu_check.py $(if $(REHEARSAL),--rehearsal) $(GPU_CHECK_ARGS)

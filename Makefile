# Two commands for a fresh clone (see README.md):
#   make book   set up .venv, execute the notebooks, build the HTML book into _build/html
#   make test   set up .venv, then unit tests + every notebook (smoke profile) + a strict book build,
#               then the built site in a real browser (tests/browser, Debian's chromium)
# Offline: point D2LNOTES_DATA at a folder holding FashionMNIST/raw (relative paths are fine).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
JB     := $(BIN)/jupyter-book build . -W -n --keep-going
SITE   := _build/html
# The built book as a reader sees it: every page in Chromium (Debian's `chromium`, or
# D2LNOTES_CHROMIUM), served from 127.0.0.1; screenshots go to _build/screenshots.
SITE_TEST := D2LNOTES_SITE=$(SITE) $(BIN)/python -m pytest --durations=5 tests/browser

# Notebooks run from their own folders, so hand them an absolute data path.
ifdef D2LNOTES_DATA
export D2LNOTES_DATA := $(abspath $(D2LNOTES_DATA))
endif

.PHONY: book test site-test unit notebooks book-strict clean help

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

# The execution cache is keyed on code cells only. Key it also on the profile and on d2lnotes'
# source, and clear it when either changes, so no page shows outputs of another profile.
define run_book
	@key="$$($(BIN)/python -m d2lnotes.settings)-$$(cat d2lnotes/*.py | sha256sum | cut -c1-16)"; \
	  if [ "$$(cat _build/.cache-key 2>/dev/null)" != "$$key" ]; then rm -rf _build/.jupyter_cache; fi; \
	  mkdir -p _build && echo "$$key" > _build/.cache-key && echo "book cache key: $$key"
	$(JB)
endef

book: $(STAMP)
	$(run_book)
	@echo "Book written to _build/html/index.html"

test: export D2LNOTES_PROFILE := smoke
test: $(STAMP)
	D2LNOTES_SITE= $(BIN)/python -m pytest --nbmake --nbmake-timeout=120 --durations=10 tests notebooks
	$(run_book)
	$(SITE_TEST)

site-test: $(STAMP)
	$(SITE_TEST)

clean:
	rm -rf _build

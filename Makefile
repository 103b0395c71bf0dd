# Two entry points: `make chat` and `make test`. Each sets up .venv first.
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTHON ?= python3
CHROMIUM := /usr/bin/chromium
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install browser chat index test clean

install: $(STAMP)

# Reinstalled whenever pyproject.toml changes; torch==2.13.0 is the CPU build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

# Debian's chromium, driven by Playwright in the browser tests (Playwright's own download is not used).
browser:
	@test -x $(CHROMIUM) || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium; }

# Indexes what is new, then serves the web chat on http://127.0.0.1:7860 (Ctrl-C stops it).
chat: install
	$(BIN)/assistant serve

index: install
	$(BIN)/assistant index

# Lint and strict type checks first: a type error fails in seconds, before the slow tests.
test: install browser
	$(BIN)/ruff check
	$(BIN)/mypy
	$(BIN)/pytest

clean:
	rm -rf $(VENV) index/CURRENT index/gen-* index/.lock

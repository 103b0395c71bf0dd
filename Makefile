# Two entry points: `make chat` and `make test`. Each sets up .venv first.
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTHON ?= python3

.PHONY: install chat index test clean

install: $(STAMP)

# Reinstalled whenever pyproject.toml changes; torch==2.13.0 is the CPU build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

chat: install
	$(BIN)/assistant index

index: install
	$(BIN)/assistant index

test: install
	$(BIN)/pytest

clean:
	rm -rf $(VENV) index/CURRENT index/gen-* index/.lock

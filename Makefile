PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck pytest screenshots clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/model-migrate demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy --strict backend workflows

# pytest exit code 5 means "no tests collected": that is a failure here.
pytest: $(STAMP)
	$(BIN)/python -m pytest; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$rc

test: lint typecheck pytest

# Regenerate docs/dashboard.png, docs/items.png and docs/conflict.png from the browser tests.
screenshots: $(STAMP)
	MODEL_MIGRATE_UPDATE_SCREENSHOT=1 $(BIN)/python -m pytest -q -p no:cacheprovider \
		tests/integration/browser

clean:
	rm -rf $(VENV) data .mypy_cache .pytest_cache .ruff_cache

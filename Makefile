# stepgate: the one entry point. `make run` to try it, `make test` to prove it.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app app
STAMP := $(VENV)/.installed
MERMAID := app/static/vendor/mermaid.min.js

.PHONY: run test lint format serve clean bench-admin

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,postgres,serve]'
	touch $(STAMP)

# The admin console's Mermaid, from npm (admin-assets/package-lock.json); no CDN is reachable.
$(MERMAID): admin-assets/package.json admin-assets/package-lock.json
	npm ci --prefix admin-assets --no-audit --no-fund --loglevel=error
	mkdir -p $(dir $@)
	cp admin-assets/node_modules/mermaid/dist/mermaid.min.js $@

run: $(STAMP) $(MERMAID)
	$(FLASK) demo seed
	$(FLASK) run --host 127.0.0.1 --port 5000

test: $(STAMP) $(MERMAID)
	$(BIN)/ruff check app plugins tests
	$(BIN)/pytest

bench-admin: $(STAMP)
	$(BIN)/python bench/admin_pages.py

lint: $(STAMP)
	$(BIN)/ruff check app plugins tests
	$(BIN)/ruff format --check app plugins tests

format: $(STAMP)
	$(BIN)/ruff format app plugins tests
	$(BIN)/ruff check --fix app plugins tests

clean:
	rm -rf $(VENV) instance .pytest_cache

# stepgate: the one entry point. `make run` to try it, `make test` to prove it.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app app
STAMP := $(VENV)/.installed

.PHONY: run test lint format serve bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,postgres,serve]'
	touch $(STAMP)

run: $(STAMP)
	$(FLASK) db upgrade
	$(FLASK) demo seed
	$(FLASK) run --host 127.0.0.1 --port 5000

test: $(STAMP)
	$(BIN)/ruff check app plugins tests bench
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check app plugins tests bench
	$(BIN)/ruff format --check app plugins tests

format: $(STAMP)
	$(BIN)/ruff format app plugins tests
	$(BIN)/ruff check --fix app plugins tests

serve: $(STAMP)
	$(FLASK) db upgrade
	$(BIN)/gunicorn -c config/gunicorn.conf.py 'app:create_app()'

bench: $(STAMP)
	$(BIN)/python -m bench.session_check
	$(BIN)/python -m bench.identification

clean:
	rm -rf $(VENV) instance .pytest_cache

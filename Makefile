# stepgate: the one entry point. `make run` to try it, `make test` to prove it.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app app
STAMP := $(VENV)/.installed
MERMAID := admin-assets/node_modules/mermaid/dist/mermaid.min.js
DEVOP := devop/node_modules/.package-lock.json

.PHONY: run test lint format serve bench bench-admin clean lock

# Installs exactly the versions (and hashes) pinned in requirements.lock, then stepgate itself on top:
# a new release of a dependency changes nothing until `make lock` is run and its result committed.
# The locked wheels are downloaded into $(WHEELHOUSE) first and installed from there, so the wheel test
# (tests/test_wheel_install.py) can install stepgate's wheel into an empty venv with no network.
WHEELHOUSE := $(VENV)/wheelhouse
$(STAMP): pyproject.toml requirements.lock
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip download --quiet --require-hashes --no-deps --dest $(WHEELHOUSE) -r requirements.lock
	$(BIN)/pip install --quiet --require-hashes --no-index --find-links $(WHEELHOUSE) -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

# Re-pin every dependency (pyproject.toml's, with the test, postgres, serve and graph extras) to today's releases.
LOCK_VENV := $(VENV)-lock
lock:
	$(PY) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet pip-tools
	$(LOCK_VENV)/bin/pip-compile --quiet --upgrade --strip-extras --generate-hashes --allow-unsafe \
		--no-emit-index-url --no-emit-find-links --extra test --extra postgres --extra serve --extra graph \
		--output-file requirements.lock pyproject.toml
	rm -rf $(LOCK_VENV)

# The admin console's Mermaid, from npm (admin-assets/package-lock.json); no CDN is reachable.
$(MERMAID): admin-assets/package.json admin-assets/package-lock.json
	npm ci --prefix admin-assets --no-audit --no-fund --loglevel=error
	touch $@

run: $(STAMP) $(DEVOP) $(MERMAID)
	$(FLASK) db upgrade
	$(FLASK) demo seed
	$(BIN)/python dev/supervisor.py

# The development OpenID Provider (oidc-provider from npm, pinned by devop/package-lock.json).
$(DEVOP): devop/package-lock.json
	cd devop && npm ci --no-audit --no-fund

# Two passes, one exit status: the suite in parallel (pytest-xdist, TEST_WORKERS processes: most tests
# wait on sockets, not the CPU, so more workers than cores), then the tests marked `serial` (they time
# seconds or share Redis; see tests/conftest.py), SERIAL_WORKERS at a time, each lane of tests sharing
# an outside resource on one worker (--dist loadgroup). Then the 10 slowest of both.
TEST_WORKERS ?= 4
SERIAL_WORKERS ?= 1
TEST_REPORTS := .pytest_cache/make-test
# Everything the suite needs, the three installs at once: pip's and npm's wait on the network and
# the disk more than on each other. (The development provider's packages used to be installed by the
# first test that needed them, by every xdist worker at once, into the same folder.)
TEST_DEPS := $(STAMP) $(DEVOP) $(MERMAID)
.PHONY: test-deps
test-deps:
	@$(MAKE) --no-print-directory --question $(TEST_DEPS) || $(MAKE) --no-print-directory -j3 $(TEST_DEPS)

test: test-deps
	$(BIN)/ruff check app plugins tests examples bench
	@rm -rf $(TEST_REPORTS) && mkdir -p $(TEST_REPORTS)
	@status=0; \
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal -m "not serial" --junitxml=$(TEST_REPORTS)/parallel.xml $(PYTEST_ARGS) || status=$$?; \
	$(BIN)/pytest -n $(SERIAL_WORKERS) --dist loadgroup --no-loadscope-reorder -m serial --junitxml=$(TEST_REPORTS)/serial.xml $(PYTEST_ARGS) || status=$$?; \
	$(BIN)/python -m tests.slowest 10 $(TEST_REPORTS)/parallel.xml $(TEST_REPORTS)/serial.xml; \
	exit $$status

bench-admin: $(STAMP)
	$(BIN)/python bench/admin_pages.py

lint: $(STAMP)
	$(BIN)/ruff check app plugins tests examples bench
	$(BIN)/ruff format --check app plugins tests examples bench

format: $(STAMP)
	$(BIN)/ruff format app plugins tests examples
	$(BIN)/ruff check --fix app plugins tests examples

serve: $(STAMP) $(MERMAID)
	$(FLASK) db upgrade
	$(BIN)/gunicorn -c config/gunicorn.conf.py 'app:create_app()'

# Every benchmark in turn (bench/all.py); the figures go into docs/benchmarks.md. wrk is installed from Debian
# when missing and running as root; the django-allauth peer gets its own venv (bench/peers/.venv-allauth).
bench: $(STAMP) $(DEVOP)
	$(BIN)/python -m bench.all

clean:
	rm -rf $(VENV) instance .pytest_cache devop/node_modules admin-assets/node_modules

# The example self-registration page (examples/registration_page) beside `make run`:
# REGISTRATION_SECRET_KEY must equal the plugin's secret_key, SCIM_TOKEN one of scim.tokens.
.PHONY: registration-page
registration-page: $(STAMP)
	STEPGATE_URL=$${STEPGATE_URL:-http://127.0.0.1:5000} $(BIN)/python -m examples.registration_page

# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXTRAS ?= dev
PYTEST_ARGS ?=

.PHONY: run worker test install lint migrate demo serve unit test-sqlite test-postgresql bench clean translations i18n-missing

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "openhotline needs Python 3.11 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/openhotline db upgrade

demo: migrate
	$(BIN)/openhotline demo load

# The app and a job worker together, so reports move through capture, trace and notice;
# Ctrl-C stops both.
run: demo
	@echo "openhotline on http://127.0.0.1:8000  (report form: /report, API docs: /api/docs)"
	@$(BIN)/openhotline worker & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
	$(BIN)/openhotline serve --host 127.0.0.1 --port 8000

lint: install
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy
	$(BIN)/lint-imports

worker: migrate
	$(BIN)/openhotline worker

test-sqlite: install
	@echo "=== test suite on SQLite ==="
	env -u OPENHOTLINE_TEST_DATABASE_URL $(BIN)/pytest $(PYTEST_ARGS)

test-postgresql: install
	@url="$$($(BIN)/python scripts/test_database_url.py)"; \
	if [ -z "$$url" ]; then \
		echo "=== PostgreSQL tests SKIPPED: no server (set OPENHOTLINE_TEST_DATABASE_URL) ==="; \
	else \
		echo "=== database tests on PostgreSQL ($${url##*@}) ==="; \
		OPENHOTLINE_TEST_DATABASE_URL="$$url" $(BIN)/pytest -m db $(PYTEST_ARGS); \
	fi

test: lint test-sqlite test-postgresql

bench: install
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@echo "benchmarks: see bench/README.md"

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

# Languages (docs/languages.md): extract every marked string into messages.pot, then merge it
# into each language's catalog (new msgids arrive empty, changed ones fuzzy, for translators).
LOCALE := src/openhotline/locale
TRANSLATED := fr de es nl ar
translations: install
	cd src/openhotline && ../../$(BIN)/pybabel extract -F ../../babel.cfg -k N_ -k pgettext:1c,2 \
		--no-wrap --sort-by-file --project openhotline --copyright-holder "openhotline contributors" \
		--msgid-bugs-address "" -o locale/messages.pot .
	for lang in $(TRANSLATED); do \
		if [ -f $(LOCALE)/$$lang/LC_MESSAGES/messages.po ]; then \
			$(BIN)/pybabel update --no-wrap -i $(LOCALE)/messages.pot -d $(LOCALE) -l $$lang; \
		else \
			$(BIN)/pybabel init --no-wrap -i $(LOCALE)/messages.pot -d $(LOCALE) -l $$lang; \
		fi; \
	done

# Public msgids without a (non-fuzzy) translation, per language; fails if there is any.
i18n-missing: install
	$(BIN)/python scripts/i18n_missing.py

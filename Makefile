# Front door: `make demo` and `make test` bootstrap everything from python3 alone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_HOME ?= state/demo
DEMO_CUSTOMERS ?= 5000
DEMO_MONTHS ?= 18

.PHONY: demo test install lock clean airflow browser bench
# Browser tests drive the distribution's Chromium through Playwright (no browser is downloaded).
CHROMIUM ?= /usr/bin/chromium

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	# setuptools warns about editable installs at length; nothing in it is actionable here
	PYTHONWARNINGS=ignore $(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/customer-health demo-data --customers $(DEMO_CUSTOMERS) --months $(DEMO_MONTHS) --seed 7 --out $(DEMO_HOME)/landing --truth $(DEMO_HOME)/truth
	$(BIN)/customer-health run --home $(DEMO_HOME) --landing $(DEMO_HOME)/landing
	$(BIN)/customer-health evaluate --home $(DEMO_HOME) --truth $(DEMO_HOME)/truth

# Two pytest-xdist workers, a test module on one worker (its tests share their module fixtures
# and run in order); PYTEST_ARGS adds to it (e.g. PYTEST_ARGS="-k web").
test: $(STAMP) browser
	$(BIN)/python -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

browser:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get > /dev/null; then \
	    echo "Installing Debian's chromium for the browser tests"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y --no-install-recommends chromium > /dev/null 2>&1 \
	    || { apt-get update > /dev/null && apt-get install -y --no-install-recommends chromium > /dev/null; }; \
	  else echo "note: no $(CHROMIUM): the browser tests will skip (install your distribution's chromium)"; fi; }

# Benchmark W1 (10k customers, ~1M events) and W10 (100k, ~10M): medians of 3 runs per stage,
# the pandas and BG/NBD peers, an incremental run; reports in state/bench/reports (JSON, Markdown).
# W100: customer-health bench --customers 1000000 --events 100000000 --repeat 1
bench: $(STAMP)
	$(BIN)/customer-health bench --customers 10000 --events 1000000 --repeat 3 --out state/bench/reports
	$(BIN)/customer-health bench --customers 100000 --events 10000000 --repeat 3 --out state/bench/reports

# Local Airflow 3 (SQLite metadata, all state under state/) running the DAGs on the demo dataset.
AIRFLOW_ENV = PATH="$(CURDIR)/$(BIN):$$PATH" AIRFLOW_HOME="$(CURDIR)/state/airflow" \
	AIRFLOW__CORE__DAGS_FOLDER="$(CURDIR)/dags" AIRFLOW__CORE__LOAD_EXAMPLES=False \
	AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=False \
	CUSTOMER_HEALTH_HOME="$(CURDIR)/$(DEMO_HOME)" CUSTOMER_HEALTH_LANDING="$(CURDIR)/$(DEMO_HOME)/landing"

airflow: $(STAMP)
	$(AIRFLOW_ENV) $(BIN)/airflow db migrate > /dev/null
	$(AIRFLOW_ENV) $(BIN)/airflow pools set customer_health_warehouse 1 "DuckDB warehouse: one writer at a time" > /dev/null
	@echo "Airflow UI: http://localhost:8080  (user admin; the password is written to"
	@echo "  state/airflow/simple_auth_manager_passwords.json.generated once it starts)"
	@echo "The DAGs read $(DEMO_HOME)/landing (make demo fills it): a new file there starts"
	@echo "  ingest -> features -> score -> publish within seconds. Stop with Ctrl-C."
	$(AIRFLOW_ENV) $(BIN)/airflow standalone

lock: $(STAMP)
	( echo "# Exact versions of every dependency (pip freeze of a working venv, Python 3.11)."; \
	  echo "# Regenerate: make lock"; \
	  $(BIN)/pip freeze --exclude-editable ) > requirements.lock

clean:
	rm -rf $(VENV) state

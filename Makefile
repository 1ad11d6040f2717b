# The two front-door commands:  make try   and   make test
VENV ?= .venv
PYTHON ?= python3

.PHONY: try test setup bench bench-teams clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e ".[test]"
	touch $@

setup: $(VENV)/.installed

try: setup  ## the bot in your terminal, on a throw-away SQLite database with an invented sample
	$(VENV)/bin/missing-bot console --demo

test: setup  ## the whole suite; set TEST_DATABASE_URL=postgresql://... to run it on PostgreSQL
	$(VENV)/bin/pytest -q

bench: setup  ## bot vs bare Bolt vs floor, sweep, report, import (issue 14); DATABASE_URL=postgresql://... adds PostgreSQL
	$(VENV)/bin/python benchmarks/bench.py $(BENCH_ARGS)

bench-teams: setup  ## /api/messages vs a bare Teams SDK app, /slack/events vs bare Bolt, for `status` (issue 11)
	$(VENV)/bin/python benchmarks/teams_bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) *.egg-info build

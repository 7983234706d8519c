# Two commands do everything: `make run` and `make test` (each sets up .venv first if needed).
VENV   ?= .venv
PYTHON ?= python3
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed-stamp

.PHONY: setup run test bench constraints clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/fedunlearn run experiments/default.toml
	$(VENV)/bin/fedunlearn run experiments/seeds.toml

test: $(STAMP)
	$(PY) -m pytest -q -ra --durations=15

bench: $(STAMP)
	$(PY) experiments/bench_overhead.py
	$(PY) experiments/bench_floor.py
	$(PY) experiments/bench_startup.py
	$(PY) experiments/bench_scale.py
	$(PY) experiments/bench_evaluator.py

# Refresh constraints.txt: a fresh environment with the newest releases the package's ranges allow (torch
# held at 2.13.0), frozen. Run the tests on it before committing the new pins.
constraints:
	rm -rf .constraints-venv
	$(PYTHON) -m venv .constraints-venv
	.constraints-venv/bin/python -m pip install -q --upgrade pip
	.constraints-venv/bin/python -m pip install -q "torch==2.13.0" -e ".[test,profile]"
	sed -n '1,/^[^#]/{/^#/p}' constraints.txt > .constraints.new
	.constraints-venv/bin/python -m pip freeze --exclude-editable | sed 's/^torch==2.13.0+cpu$$/torch==2.13.0/' >> .constraints.new
	mv .constraints.new constraints.txt
	rm -rf .constraints-venv

clean:
	rm -rf runs build *.egg-info

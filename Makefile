# Two commands do everything: `make run` and `make test` (each sets up .venv first if needed).
VENV   ?= .venv
PYTHON ?= python3
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed-stamp

.PHONY: setup run test bench clean

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
	$(PY) -m pytest -q -ra

bench: $(STAMP)
	$(PY) experiments/bench_overhead.py
	$(PY) experiments/bench_scale.py
	$(PY) experiments/bench_evaluator.py

clean:
	rm -rf runs build *.egg-info

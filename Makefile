# Two entry points for a fresh machine (Python 3.11 + pip; no conda, no GPU needed):
#   make demo   - create .venv, install requirements.txt, run the pipeline on the embedded demo dataset
#   make test   - create .venv if needed and run the test suite
VENV ?= .venv
CORES ?= 2
PYTHON ?= python3

.PHONY: setup demo test clean-results

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $@

demo: setup
	$(VENV)/bin/snakemake --cores $(CORES)
	@echo "demo done: results/table1.csv ... table5.csv (+ .md), figure_maps.png, figure_wsol.png, figure7.png"

test: setup
	$(VENV)/bin/pytest -q

clean-results:
	rm -rf results .snakemake

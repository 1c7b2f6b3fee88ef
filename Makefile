# Two entry points for a fresh machine (Python 3.11 + pip; no conda, no GPU needed):
#   make demo   - create .venv, install requirements.txt, run the pipeline on the embedded demo dataset
#   make segment IMAGES=DIR - C2AM trained on your photos (no labels): masks, boxes and a gallery of every photo
#   make test   - create .venv if needed and run the test suite
#   make report - the demo plus the sensitivity studies (Table 6, Fig. 8) and Snakemake's HTML report
VENV ?= .venv
CORES ?= 2
PYTHON ?= python3

.PHONY: setup demo segment test report clean-results

setup: $(VENV)/.installed

# requirements.txt: the exact, tested dependency set; then this checkout itself, editable and without
# dependencies, so that `c2am` is on the venv's PATH (setuptools >= 70.1 builds it in place, no wheel package)
$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet "setuptools>=70.1"
	$(VENV)/bin/pip install --quiet -r requirements.txt
	$(VENV)/bin/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

demo: setup
	$(VENV)/bin/snakemake --cores $(CORES)
	@echo "demo done: results/table1.csv ... table5.csv (+ .md), figure_maps.png, figure_wsol.png, figure7.png"

report: setup  # after (or instead of) make demo: adds Table 6 / Fig. 8, training curves, config; then the HTML report
	$(VENV)/bin/snakemake --cores $(CORES) full_report
	$(VENV)/bin/snakemake --report results/report.html full_report
	@echo "report: results/report.html (with results/table6.csv, results/figure8.png)"

# your own photos: make segment IMAGES=path/to/photos [NAME=photos] [CORES=2]. The folder and the name reach the
# command through the environment, as given (make expands neither), never through the shell's parser; NAME counts
# only when given on make's command line (an environment variable NAME, as WSL sets, is not a run name)
override SEGMENT_IMAGES := $(value IMAGES)
override SEGMENT_NAME := $(if $(filter command line,$(origin NAME)),$(value NAME))
export SEGMENT_IMAGES SEGMENT_NAME
segment: setup
	@if [ -z "$$SEGMENT_IMAGES" ]; then echo "usage: make segment IMAGES=path/to/photos [NAME=photos] [CORES=2]" >&2; exit 2; fi
	$(VENV)/bin/python -m c2am.segment --cores $(CORES) $${SEGMENT_NAME:+"--name=$$SEGMENT_NAME"} -- "$$SEGMENT_IMAGES"

test: setup
	$(VENV)/bin/pytest -q

clean-results:
	rm -rf results .snakemake

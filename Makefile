# Fashion-MNIST CNN study. `make help` lists the targets; README.md explains them.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
.SECONDEXPANSION:
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules --warn-undefined-variables

PROFILE ?= full
PARAMS ?=
WORKERS ?= $(shell nproc)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
JUPYTER := $(VENV)/bin/jupyter
REPORTS ?= reports
OUT := $(REPORTS)/$(PROFILE)
# a notebook re-run with PARAMS goes to custom/, so the report's own pages keep the study's settings
NBOUT := $(if $(strip $(PARAMS)),$(OUT)/custom,$(OUT))
LIB := $(wildcard fmnist_lib/*.py)
STAMP_VENV := $(VENV)/.installed
STAMP_KERNEL := $(VENV)/.kernel

SWEEPS := autoencoder-activation autoencoder-optimizer autoencoder-n autoencoder-dropout autoencoder-lr \
          classifier-lr classifier-n classifier-batch_size
NOTEBOOKS := autoencoder $(addprefix sweep-,$(SWEEPS)) comparison confusion
PAGES := $(addprefix $(OUT)/,$(addsuffix .html,$(NOTEBOOKS)))

# notebooks/<source>.ipynb of an executed notebook's name, and its papermill arguments
nb_src = notebooks/$(if $(filter sweep-%,$1),sweep,$1).ipynb
nb_args = -p profile $(PROFILE) $(if $(filter sweep-%,$1),-p sweep $(patsubst sweep-%,%,$1))
export PYTHONUNBUFFERED := 1
export FMNIST_WORKERS := $(WORKERS)
export FMNIST_REPORTS := $(abspath $(REPORTS))

.PHONY: help setup data runs report test bench estimate lab clean clean-runs $(NOTEBOOKS) summary

## help: list the targets (the default)
help:
	@echo "make TARGET [PROFILE=full|quick|smoke] [PARAMS='-p NAME VALUE -y \"NAME: [..]\"']"
	@grep -E '^## ' $(firstword $(MAKEFILE_LIST)) | sed -e 's/^## /  /' -e 's/: /\t/' | expand -t 30

$(STAMP_VENV): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -e '.[dev]' 2>&1 | grep -v "is ignored: it is neither" || true
	$(PY) -c "import fmnist_lib, torch, torchvision, papermill, weasyprint"
	touch $@

$(STAMP_KERNEL): $(STAMP_VENV)
	$(PY) -m ipykernel install --prefix $(abspath $(VENV)) --name fmnist --display-name "Python (fmnist)" >/dev/null
	touch $@

## setup: build what is missing: the virtual environment, the `fmnist` Jupyter kernel, the data
setup: $(STAMP_KERNEL) data

## data: find, fetch and verify Fashion-MNIST (MD5 of each file); safe to re-run
data: $(STAMP_VENV)
	$(PY) -m fmnist_lib.data fetch

## runs: train every run the report needs, WORKERS processes in parallel (default: one per core)
runs: $(OUT)/.runs
$(OUT)/.runs: $(LIB) | setup
	mkdir -p $(OUT)
	$(PY) -m fmnist_lib.experiments $(PROFILE) $(WORKERS)
	touch $@

$(OUT)/%.ipynb: $$(call nb_src,$$*) $(OUT)/.runs $(LIB)
	$(PY) -m fmnist_lib.nbrun $< $@ $(call nb_args,$*)

$(OUT)/report.ipynb: notebooks/report.ipynb $(addprefix $(OUT)/,$(addsuffix .ipynb,$(NOTEBOOKS)))
	$(PY) -m fmnist_lib.nbrun $< $@ -p profile $(PROFILE)

$(OUT)/report.html: $(OUT)/report.ipynb
	$(JUPYTER) nbconvert --to html --no-input --log-level ERROR --output-dir $(OUT) $<

$(OUT)/%.html: $(OUT)/%.ipynb
	$(JUPYTER) nbconvert --to html --log-level ERROR --output-dir $(dir $@) $<

$(OUT)/report.pdf: $(OUT)/report.html
	$(PY) -m fmnist_lib.render $< $@

## report: execute every notebook into reports/PROFILE/ and render report.html and report.pdf
report: $(OUT)/report.html $(OUT)/report.pdf $(PAGES)
	@echo "report: $(OUT)/report.html $(OUT)/report.pdf"

## <notebook>: re-run one notebook with PARAMS: autoencoder comparison confusion sweep-<sweep>
$(NOTEBOOKS): setup
	$(PY) -m fmnist_lib.nbrun $(call nb_src,$@) $(NBOUT)/$@.ipynb $(call nb_args,$@) $(PARAMS)
	$(JUPYTER) nbconvert --to html --log-level ERROR --output-dir $(NBOUT) $(NBOUT)/$@.ipynb

## summary: re-run the summary notebook alone (reads the run cache; trains nothing)
summary: setup
	$(PY) -m fmnist_lib.nbrun notebooks/report.ipynb $(OUT)/report.ipynb -p profile $(PROFILE)
	$(JUPYTER) nbconvert --to html --no-input --log-level ERROR --output-dir $(OUT) $(OUT)/report.ipynb
	$(PY) -m fmnist_lib.render $(OUT)/report.html $(OUT)/report.pdf

## test: the test suite: unit tests, the real data, every notebook on the smoke profile
test: setup
	$(PY) -m pytest

## bench: training and evaluation speed of the usual PyTorch loop against the project's, side by side
bench: setup
	$(PY) benchmarks/bench.py

## estimate: estimated training wall time of PROFILE here, from short timed runs (about a minute)
estimate: setup
	$(PY) benchmarks/estimate.py $(PROFILE) $(WORKERS)

## lab: open JupyterLab on the notebooks with the `fmnist` kernel
lab: setup
	$(JUPYTER) lab --notebook-dir=notebooks

## clean: remove the executed notebooks and rendered reports (keeps the run cache)
clean:
	rm -rf $(REPORTS)/*/

## clean-runs: remove the run cache (everything will be re-trained)
clean-runs:
	rm -rf runs/

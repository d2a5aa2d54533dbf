# Fashion-MNIST CNN study. `make help` lists the targets; README.md explains them.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
.SECONDEXPANSION:
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules --warn-undefined-variables

# the profiles of fmnist_lib.config.PROFILES (tests/test_cli.py); the sweeps come from fmnist_lib.plan.SWEEPS below
PROFILES := full quick smoke
empty :=
space := $(empty) $(empty)
PROFILE ?= full
PARAMS ?=
PARTIAL ?=
LAB_ARGS ?=
# WORKERS, RUNS_PER_GPU: empty means fmnist_lib's defaults (one process per core; 2 runs per GPU)
WORKERS ?=
PYTHON ?= python3
# VENV: the environment to use; .venv is built when missing, any other (VENV=$$CONDA_PREFIX) is used as it is
VENV ?= .venv
REPORTS ?= reports
# an empty setting (REPORTS=) means the default, never the filesystem root
override VENV := $(or $(strip $(VENV)),.venv)
override REPORTS := $(or $(strip $(REPORTS)),reports)
ifneq ($(words $(PROFILE)) $(filter $(PROFILES),$(PROFILE)),1 $(strip $(PROFILE)))
$(error PROFILE='$(PROFILE)' is not allowed; allowed: $(PROFILES))
endif
PY := $(VENV)/bin/python
JUPYTER := $(VENV)/bin/jupyter
OWN_VENV := $(filter $(abspath .venv),$(abspath $(VENV)))
OUT := $(REPORTS)/$(PROFILE)
# a notebook re-run with PARAMS goes to custom/, so the report's own pages keep the study's settings
NBOUT := $(if $(strip $(PARAMS)),$(OUT)/custom,$(OUT))
LIB := $(wildcard fmnist_lib/*.py)
STAMP_VENV := $(if $(OWN_VENV),$(VENV)/.installed,env-check)
STAMP_KERNEL := $(if $(OWN_VENV),$(VENV)/.kernel,env-kernel)

# the sweeps of fmnist_lib.plan.SWEEPS (plan imports config only: the system's python reads it before any venv)
# (a Makefile copied without the library has none)
LIBDIR := $(dir $(abspath $(firstword $(MAKEFILE_LIST))))fmnist_lib
SWEEPS := $(if $(wildcard $(LIBDIR)/plan.py),$(shell cd '$(LIBDIR)/..' && $(PYTHON) -m fmnist_lib.plan --list))
ifeq ($(strip $(SWEEPS)),$(if $(wildcard $(LIBDIR)/plan.py),,x))
$(error `$(PYTHON) -m fmnist_lib.plan --list` printed no sweeps (PYTHON: a Python >= 3.11))
endif
NOTEBOOKS := autoencoder $(addprefix sweep-,$(SWEEPS)) comparison confusion
PAGES := $(addprefix $(OUT)/,$(addsuffix .html,$(NOTEBOOKS)))
ifneq ($(strip $(PARAMS)),)
ifneq ($(filter-out $(NOTEBOOKS) help,$(or $(MAKECMDGOALS),help)),)
$(error PARAMS applies only to single notebook targets ($(NOTEBOOKS)); make $(firstword $(filter-out $(NOTEBOOKS) help,$(or $(MAKECMDGOALS),help))) always uses the study's settings)
endif
endif

# notebooks/<source>.ipynb of an executed notebook's name, and its papermill arguments
nb_src = notebooks/$(if $(filter sweep-%,$1),sweep,$1).ipynb
nb_args = -p profile $(PROFILE) $(if $(filter sweep-%,$1),-p sweep $(patsubst sweep-%,%,$1))
export PYTHONUNBUFFERED := 1
export FMNIST_WORKERS := $(WORKERS)
export FMNIST_REPORTS := $(abspath $(REPORTS))

.PHONY: help setup git-filter data runs report test test-fast bench estimate lab clean clean-runs $(NOTEBOOKS) summary

## help: list the targets (the default)
help:
	@echo "make TARGET [PROFILE=$(subst $(space),|,$(PROFILES))] [PARAMS='-p NAME VALUE -y \"NAME: [..]\"'] [VENV=DIR]"
	@grep -E '^## ' $(firstword $(MAKEFILE_LIST)) | sed -e 's/^## /  /' -e 's/: /\t/' | expand -t 30
	@echo "notebook targets (each re-runs one notebook into $(REPORTS)/PROFILE/, with PARAMS into its custom/):"
	@printf '  %s\n' $(NOTEBOOKS)

ifneq ($(OWN_VENV),)
$(STAMP_VENV): pyproject.toml constraints.txt
	@echo "setup: building $(VENV) with the pinned packages of constraints.txt (torch's CUDA build included, 6 GB):" \
	  "minutes, once (README.md: How long things take here)"
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]' 2>&1 \
	  | grep -v "is ignored: it is neither" || true
	$(PY) -c "import fmnist_lib, torch, torchvision, papermill, weasyprint"
	touch $@

$(STAMP_KERNEL): $(STAMP_VENV)
	$(PY) -m ipykernel install --prefix $(abspath $(VENV)) --name fmnist --display-name "Python (fmnist)" >/dev/null
	touch $@
else
# an existing environment (VENV=$$CONDA_PREFIX): used as it is, never built; it must hold the packages
.PHONY: env-check env-kernel
env-check:
	@test -x $(PY) || { echo "error: VENV=$(VENV) has no bin/python; allowed: a virtual or conda environment" >&2; exit 2; }
	@$(PY) -c "import importlib.util as u, sys; m = [n for n in ('fmnist_lib', 'torch', 'torchvision', 'papermill', \
	  'weasyprint', 'ipykernel', 'jupyterlab') if u.find_spec(n) is None]; \
	  m and sys.exit('error: VENV=$(VENV) lacks ' + ', '.join(m) + '; install them: $(PY) -m pip install -e .[dev]')"

env-kernel: env-check
	@test -f $(VENV)/share/jupyter/kernels/fmnist/kernel.json || \
	  $(PY) -m ipykernel install --prefix $(abspath $(VENV)) --name fmnist --display-name "Python (fmnist)" >/dev/null
endif

## setup: build what is missing: the virtual environment, the `fmnist` Jupyter kernel, the data, the git filter
setup: $(STAMP_KERNEL) data git-filter

# nbstripout as this clone's git filter: `git add` strips the outputs that Jupyter saves in notebooks (cell ids kept);
# does nothing outside a git work tree or when already set
STRIP := "$(abspath $(PY))" -m nbstripout --keep-id
git-filter: $(STAMP_VENV)
	@git rev-parse --is-inside-work-tree >/dev/null 2>&1 || exit 0; \
	[ "$$(git config --local --get filter.nbstripout.clean)" != '$(STRIP)' ] || exit 0; \
	$(PY) -c "import nbstripout" 2>/dev/null || { echo "setup: no nbstripout in $(VENV) (pip install nbstripout):" \
	  "git add keeps notebook outputs"; exit 0; }; \
	$(PY) -m nbstripout --install && git config filter.nbstripout.clean '$(STRIP)' && \
	echo "setup: git add strips notebook outputs (nbstripout, a git filter of this clone for *.ipynb)"

## data: find, fetch and verify Fashion-MNIST (MD5 of each file); safe to re-run
data: $(STAMP_VENV)
	$(PY) -m fmnist_lib.data fetch

# where `make runs` trains (fmnist_lib/launch.py): local = WORKERS processes here, RUNS_PER_GPU on each GPU where
# there are GPUs; slurm = submitit job arrays, one run per task (settings: SLURM_CONFIG, a YAML file like
# slurm.example.yaml, then the variables below, which win); debug = the slurm code path run in this process
EXECUTOR ?= local
RUNS_PER_GPU ?=
SLURM_CONFIG ?= $(wildcard slurm.yaml)
PARTITION ?=
TIME_MIN ?=
GPUS_PER_TASK ?=
CPUS_PER_TASK ?=
ARRAY_PARALLELISM ?=
SLURM_ARGS ?=
export FMNIST_RUNS_PER_GPU := $(RUNS_PER_GPU)
launch_opt = $(if $(strip $($1)),--$2='$(strip $($1))')
LAUNCH_OPTS = $(strip --executor '$(EXECUTOR)' $(call launch_opt,SLURM_CONFIG,config) \
  $(call launch_opt,PARTITION,partition) $(call launch_opt,TIME_MIN,time-min) \
  $(call launch_opt,GPUS_PER_TASK,gpus-per-task) $(call launch_opt,CPUS_PER_TASK,cpus-per-task) \
  $(call launch_opt,ARRAY_PARALLELISM,array-parallelism) $(call launch_opt,SLURM_ARGS,slurm-args))

## runs: train every run the report needs: EXECUTOR=local (WORKERS processes; RUNS_PER_GPU per GPU), slurm or debug
runs: $(OUT)/.runs
$(OUT)/.runs: $(LIB) | setup
	mkdir -p $(OUT)
	$(PY) -m fmnist_lib.launch $(PROFILE) $(LAUNCH_OPTS)
	touch $@

## runs-pinned: `make runs` from a git worktree of HEAD (<folder>-train-<commit>) into this run cache; retrains stale runs
.PHONY: runs-pinned
runs-pinned: | setup
	@commit=$$(git rev-parse --short HEAD); tree='$(abspath ..)/$(notdir $(CURDIR))-train-'$$commit; \
	runs=$$('$(PY)' -c 'from fmnist_lib.paths import runs_dir; print(runs_dir().resolve())'); \
	data=$$('$(PY)' -c 'from fmnist_lib.data import data_root; print(data_root().resolve())'); \
	if [ -n "$$(git status --porcelain --untracked-files=no)" ]; then \
	  echo "note: this checkout has uncommitted changes; the runs train from commit $$commit, without them"; fi; \
	[ -d "$$tree" ] || git worktree add --detach --quiet "$$tree" $$commit; \
	[ "$$(git -C "$$tree" rev-parse --short HEAD)" = $$commit ] && [ -z "$$(git -C "$$tree" status --porcelain)" ] || \
	  { echo "error: $$tree is not a clean worktree of commit $$commit; remove it (git worktree remove)" >&2; exit 2; }; \
	echo "training from $$tree (commit $$commit) into the run cache $$runs"; \
	cd "$$tree" && PYTHONPATH="$$tree" FMNIST_RUNS="$$runs" FMNIST_DATA="$$data" \
	  '$(abspath $(PY))' -m fmnist_lib.launch $(PROFILE) --retrain-stale $(subst --config='$(strip $(SLURM_CONFIG))',--config='$(abspath $(SLURM_CONFIG))',$(LAUNCH_OPTS))

$(OUT)/%.ipynb: $$(call nb_src,$$*) $(OUT)/.runs $(LIB)
	$(PY) -m fmnist_lib.nbrun $< $@ $(call nb_args,$*)

# REPORT_INPUTS: what the summary notebook waits for (`make summary` empties it: the notebook alone, from the runs)
REPORT_INPUTS ?= $(addprefix $(OUT)/,$(addsuffix .ipynb,$(NOTEBOOKS)))
$(OUT)/report.ipynb: notebooks/report.ipynb $(REPORT_INPUTS)
	$(PY) -m fmnist_lib.nbrun $< $@ -p profile $(PROFILE) $(if $(strip $(PARTIAL)),-p partial True)

$(OUT)/report.html: $(OUT)/report.ipynb
	$(PY) -m fmnist_lib.render $< $@ --no-input

$(OUT)/%.html: $(OUT)/%.ipynb
	$(PY) -m fmnist_lib.render $< $@

$(OUT)/report.pdf: $(OUT)/report.html
	$(PY) -m fmnist_lib.render $< $@

# the rendered pages; rendered-from.json beside them records the runs and the code they came from
RENDERED := $(OUT)/report.html $(OUT)/report.pdf $(PAGES)
FORCE ?=

## report: execute every notebook into reports/PROFILE/, render report.html and report.pdf (pages whose runs and code are unchanged are left alone; FORCE=1 renders anyway)
report: | setup
	@if [ -z "$(strip $(FORCE))" ] && $(PY) -m fmnist_lib.rendered unchanged $(PROFILE) $(RENDERED); then :; \
	else $(MAKE) --no-print-directory render; fi

# the render itself (make report decides whether it is needed)
.PHONY: render
render: $(RENDERED)
	$(PY) -m fmnist_lib.rendered record $(PROFILE)
	@echo "report: $(OUT)/report.html $(OUT)/report.pdf"

## <notebook>: re-run one notebook (listed below); with PARAMS into custom/, named after them
# PARAMS are checked first (names and values, in a second, no kernel), then the set-up, then nbrun trains the runs the
# notebook reads (estimate, one progress bar) and executes it, naming the file it writes
nb_run = $(PY) -m fmnist_lib.nbrun $(call nb_src,$1) $(NBOUT)/$1.ipynb $(call nb_args,$1) $2 $(if $(strip $(PARAMS)),--custom $(PARAMS))
$(NOTEBOOKS): $(STAMP_VENV)
	@$(call nb_run,$@,--check)
	@$(MAKE) --no-print-directory setup PARAMS=
	@$(call nb_run,$@,--html)

sweep-%:
	$(error there is no sweep '$*'; allowed: $(SWEEPS) (as make sweep-NAME))

## summary: re-run the summary notebook alone (reads the run cache and the store; trains nothing; PARTIAL=1: what is there)
summary: setup
	$(MAKE) --no-print-directory -W notebooks/report.ipynb REPORT_INPUTS= $(OUT)/report.pdf
	$(if $(strip $(PARTIAL)),$(PY) -m fmnist_lib.rendered record $(PROFILE) --partial)
	@echo "summary: wrote $(OUT)/report.ipynb, $(OUT)/report.html and $(OUT)/report.pdf"

## test: the test suite: unit tests, the real data, every notebook on the smoke profile
test: setup
	$(PY) -m pytest

## test-fast: the tests not marked slow (no real data, no notebooks): seconds
test-fast: setup
	$(PY) -m pytest -m "not slow"

## bench: training and evaluation speed of the usual PyTorch loop against the project's, side by side
bench: setup
	$(PY) benchmarks/bench.py

## estimate: estimated training wall time of PROFILE here, from short timed runs (about a minute)
estimate: setup
	$(PY) benchmarks/estimate.py $(PROFILE) $(WORKERS)

# JupyterLab on the project root, opening on notebooks/ (the rendered reports one click up, in $(REPORTS)/); its
# kernels talk over IPC sockets in Jupyter's runtime folder, not TCP (so no "running over TCP without encryption")
LAB_OPTS := --ServerApp.root_dir=. --LabApp.default_url=/lab/tree/notebooks --KernelManager.transport=ipc

## lab: JupyterLab on the project, opening on notebooks/, with the `fmnist` kernel; says which profiles are cached (LAB_ARGS: more options)
lab: setup
	@$(PY) -m fmnist_lib.launch --status
	@echo "lab: JupyterLab on this project, opening on notebooks/ (the reports are in $(REPORTS)/), with the kernel" \
	  "\"Python (fmnist)\": open the http://...:PORT/lab/tree/notebooks?token=... URL it prints below (port 8888 unless" \
	  "taken or set in LAB_ARGS); Ctrl-C stops it"
	$(JUPYTER) lab $(LAB_OPTS) $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

## publish: copy PROFILE's finished runs from the run cache into the committed store reports/PROFILE/store/
.PHONY: publish verify
publish: $(STAMP_VENV)
	$(PY) -m fmnist_lib.store publish $(PROFILE)

## verify: retrain two published runs of PROFILE for a few epochs, compare them with the committed histories
verify: setup
	$(PY) -m fmnist_lib.verify $(PROFILE)

## clean: remove PROFILE's executed notebooks and pages that git does not track (never the store, runs.csv, models.json)
clean:
	@if [ ! -d '$(OUT)' ]; then echo "clean: nothing to remove, $(OUT) does not exist"; exit 0; fi; \
	if git ls-files --others -- '$(OUT)' >/dev/null 2>&1; then \
	  mapfile -d '' files < <(git ls-files --others -z -- '$(OUT)' ':(exclude)$(OUT)/store' \
	    ':(exclude)$(OUT)/runs.csv' ':(exclude)$(OUT)/models.json'); \
	elif [ "$$(git rev-parse --is-inside-work-tree 2>/dev/null)" = true ]; then \
	  mapfile -d '' files < <(find '$(OUT)' -type f -not -path '$(OUT)/store/*' -not -path '$(OUT)/runs.csv' \
	    -not -path '$(OUT)/models.json' -print0); \
	else echo "error: make clean removes only files git does not track, and this is not a git work tree;" \
	       "remove what you want gone from $(OUT) by hand" >&2; exit 2; fi; \
	[ $${#files[@]} -eq 0 ] || rm -f -- "$${files[@]}"; \
	find '$(OUT)' -depth -mindepth 1 -type d -empty -not -path '$(OUT)/store' -not -path '$(OUT)/store/*' -delete; \
	rmdir '$(OUT)' 2>/dev/null || true; \
	echo "clean: removed $${#files[@]} untracked file(s) from $(OUT); kept the files git tracks and the results store"

## clean-runs: remove the run cache (everything will be re-trained)
clean-runs:
	rm -rf runs/

# Quick start:  make demo   (set up + run the offline demo)
#               make test   (set up + run the tests)
VENV ?= .venv
PY := $(VENV)/bin/python
# This machine kind has a CPU wheel of torch 2.13.0 on disk; on a GPU box set TORCH_SPEC to the build you want.
TORCH_SPEC ?= torch==2.13.0
CORES ?= 2

.PHONY: setup profile demo pilot test lint gpu-check
setup: $(VENV)/.installed profile

# `snakemake --profile slurm` resolves to profiles/slurm (a link in ~/.config/snakemake; never overwrites)
profile: $(VENV)/.installed
	@$(PY) -m xlt.workflow.slurm_profile install

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e '.[test]'
	touch $@

demo: setup
	$(VENV)/bin/snakemake --cores $(CORES) --configfile config/demo.yaml

# The pilot of the study (config/pilot.yaml, ~2 GPU-hours; needs the Hub): the study's rules on a small cut, ending
# with results/pilot/report.md. On a cluster: snakemake --profile slurm --configfile config/pilot.yaml pilot
pilot: setup
	$(VENV)/bin/snakemake --cores $(CORES) --configfile config/pilot.yaml pilot

# one test worker per core, whole modules per worker, in the order tests/conftest.py gives (longest first;
# xdist would otherwise start the modules with the most tests first)
test: setup
	$(VENV)/bin/python -m pytest -n $(CORES) --dist loadfile --no-loadscope-reorder

lint: setup
	$(VENV)/bin/snakemake --lint --configfile config/demo.yaml

# One prepared GPU check (< 8 minutes on one H100/H200): JSON to $OUT/gpucheck.json, else results/gpucheck.json
gpu-check: setup
	$(PY) -m xlt.bench.gpucheck

# saerl: every target works on a laptop CPU; `make sweep` submits a sweep to Slurm (slurm/*.yaml profiles).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
# Offline everywhere by default: the miniature makes all its data and models locally.
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export WANDB_MODE ?= offline

.PHONY: install openrlhf-wheel test test-vllm check paper demo report bench bench-coverage bench-scale bench-shapes lock clean sweep slurm-up slurm-down openrlhf-env gpu-check

install: $(VENV)/.installed  ## virtualenv with exact pins (torch CPU build via constraints.txt)

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e '.[dev,ray]'
	touch $@

WHEELS ?= $(HOME)/.cache/saerl/wheels
openrlhf-wheel:  ## OpenRLHF 0.11.2's wheel, downloaded, never installed: the tests read its argument parser from it
	@ls $(WHEELS)/openrlhf-0.11.2-*.whl >/dev/null 2>&1 \
	  || $(PY) -m pip download -q --no-deps openrlhf==0.11.2 -d $(WHEELS) \
	  || echo "openrlhf-wheel: not downloadable here; the tests that read OpenRLHF's parser will skip, saying so"

test: install openrlhf-wheel  ## the full test suite (CPU, offline); Slurm tests need `make slurm-up` (root), vLLM tests a GPU
	$(BIN)/pytest -n 2 --dist loadfile -q

test-vllm:  ## the vLLM labeller's tests, for real (in an environment with vLLM and a CUDA GPU)
	SAERL_REQUIRE_VLLM=1 $(if $(wildcard $(BIN)/pytest),$(BIN)/pytest,pytest) -q tests/test_vllm.py

check: install  ## format check, lint, type check
	$(BIN)/ruff format --check saerl analysis tests
	$(BIN)/ruff check saerl analysis tests
	$(BIN)/mypy

# The demo's models: the source (qwen2-xs) and its one target (sweeps/demo.yaml); the full family
# (`saerl models`) adds llama-xs and qwen2-s for the miniature and ablation sweeps.
DEMO_MODELS := models.build=["qwen2-xs","llama-s"]
demo: install  ## the miniature study reduced to ~15 minutes: every stage, then sweeps/demo.yaml and its report
	$(BIN)/saerl data
	$(BIN)/saerl models '$(DEMO_MODELS)'
	$(BIN)/saerl sae
	$(BIN)/saerl features
	$(BIN)/saerl study-signals
	$(BIN)/saerl curriculum
	$(BIN)/saerl study sweeps/demo.yaml
	$(BIN)/saerl report runs/demo --out reports/demo --title "saerl miniature (make demo)"

RUNS ?= runs/miniature
OUT ?= reports/$(notdir $(RUNS))
report: install  ## report from RUNS (a runs/<sweep> folder or a W&B entity/project) into OUT
	$(BIN)/saerl report $(RUNS) --out $(OUT)

# The committed results by default (then the README's results table is rewritten from them too);
# or run folders / wandb:<entity>/<project>, reported without touching the README.
PAPER_RUNS ?= analysis/results
paper: install  ## every table and figure of the study from PAPER_RUNS (default: the committed analysis/results) into reports/paper, and the README's results table; no training
	$(BIN)/saerl paper $(PAPER_RUNS) --out reports/paper $(if $(filter analysis/results,$(PAPER_RUNS)),--readme README.md)

SWEEP ?= sweeps/miniature.yaml
CLUSTER ?= local-slurm
DRY_RUN ?=
ARGS ?=
sweep: install  ## submit SWEEP to the cluster of profile CLUSTER (slurm/<CLUSTER>.yaml); DRY_RUN=1 writes the sbatch scripts only; ARGS="key=value ..." overrides every point
	$(BIN)/saerl sweep $(SWEEP) CLUSTER=$(CLUSTER) $(if $(DRY_RUN),DRY_RUN=$(DRY_RUN)) $(ARGS)

OPENRLHF_ENV ?= $(HOME)/openrlhf-env
openrlhf-env:  ## the cluster's OpenRLHF environment (its own pins; torch first, then flash-attn and deepspeed built against it) at OPENRLHF_ENV
	bash slurm/openrlhf-env.sh $(OPENRLHF_ENV)

slurm-up:  ## install (Debian packages) and start a two-node Slurm on this machine (root)
	bash slurm/install.sh
	bash slurm/up.sh

slurm-down:  ## stop the one-machine Slurm
	bash slurm/down.sh

bench: install  ## every speed figure in one run (miniature stages, features path, SAE training, real shapes, `make demo` from scratch; ~30 min) -> reports/bench.{json,md}
	$(PY) -m saerl.bench

bench-coverage: install  ## coverage selection at 103k prompts x 16,384 latents -> reports/bench_coverage.{json,md}
	$(PY) -m saerl.bench.coverage

bench-scale: install  ## features -> signals -> curriculum at 103k prompts x 16,384 latents -> reports/bench_scale.{json,md}
	$(PY) -m saerl.bench.scale

bench-shapes: install  ## the real-shape part of `make bench` alone: SAE route vs full forward vs rollout labelling at Qwen2.5-0.5B/1.5B shapes -> reports/bench_shapes.{json,md}
	$(PY) -m saerl.bench.shapes

gpu-check: install  ## on any single CUDA machine: the benches' CUDA paths in bf16, SAE training on CUDA, the vLLM tests where vLLM is installed (<10 min) -> reports/gpu_check.{md,json}; on a CPU box it says what it skipped
	$(PY) -m saerl.gpu_check

lock:  ## regenerate constraints.txt from the current virtualenv
	{ head -2 constraints.txt; $(BIN)/pip freeze --exclude-editable | sed 's/+cpu$$//' | grep -v '^saerl' | sort -f; } > constraints.tmp && mv constraints.tmp constraints.txt

clean:  ## remove generated outputs (not the virtualenv)
	rm -rf artifacts runs reports wandb .pytest_cache .ruff_cache .mypy_cache

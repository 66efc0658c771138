#!/usr/bin/env bash
# The OpenRLHF environment of a GPU cluster (OpenRLHF 0.11.2 with its own pins), installed in the
# order that works: `pip install -r slurm/openrlhf-requirements.txt` alone fails in a fresh
# virtualenv, because flash-attn 2.8.3 has no wheels on the package index and its setup.py (like
# deepspeed's) imports torch, which a build-isolation environment does not have.
#
#   bash slurm/openrlhf-env.sh [PREFIX]          # default PREFIX: $HOME/openrlhf-env
#   make openrlhf-env [OPENRLHF_ENV=PREFIX]
#
# Run it where the CUDA toolkit is available (on a GPU node, or after `module load cuda/...`):
# flash-attn compiles its kernels with nvcc (MAX_JOBS bounds the parallel compile jobs and so the
# memory; ~20-60 min). Environment knobs: PYTHON (default python3.11), PIP_ARGS (extra pip
# arguments, e.g. --index-url of a mirror), MAX_JOBS (default 8).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
prefix="${1:-$HOME/openrlhf-env}"
python="${PYTHON:-python3.11}"
read -r -a extra <<<"${PIP_ARGS:-}"
requirements="$here/openrlhf-requirements.txt"
pin() { grep -E "^$1==" "$requirements" | head -1; }
torch_pin="torch==2.13.0"  # vllm 0.29.0 requires exactly this torch (its wheel's METADATA)

step() { printf '\nopenrlhf-env: %s\n' "$*"; }

step "1/6 virtualenv $prefix ($python)"
"$python" -m venv "$prefix"
pip=("$prefix/bin/python" -m pip)
"${pip[@]}" install "${extra[@]}" --upgrade pip setuptools wheel packaging ninja psutil

step "2/6 $torch_pin first: the source builds below import it"
"${pip[@]}" install "${extra[@]}" "$torch_pin"

step "3/6 the source builds, against that torch (no build isolation): $(pin deepspeed) $(pin flash-attn)"
export MAX_JOBS="${MAX_JOBS:-8}"
"${pip[@]}" install "${extra[@]}" --no-build-isolation "$(pin deepspeed)"
"${pip[@]}" install "${extra[@]}" --no-build-isolation "$(pin flash-attn)"

step "4/6 OpenRLHF and the rest of its pins (deepspeed and flash-attn are satisfied already)"
"${pip[@]}" install "${extra[@]}" -r "$requirements" "$torch_pin"

step "5/6 saerl without its own pins (its driver, order hook, reward and job code run here)"
"${pip[@]}" install "${extra[@]}" --no-deps -e "$repo"
"${pip[@]}" install "${extra[@]}" math-verify==0.9.0 submitit==1.5.4 pyyaml

step "6/6 check"
"${pip[@]}" check
"$prefix/bin/python" - <<'PY'
import importlib.metadata as md

for name in ("openrlhf", "vllm", "ray", "deepspeed", "flash-attn", "transformers", "torch"):
    print(f"  {name} {md.version(name)}")
import saerl.rl.openrlhf.order  # noqa: F401  (the order hook imports nothing of OpenRLHF)
PY
echo "openrlhf-env: ready; set openrlhf_env: $prefix in your cluster profile (slurm/*.yaml)"

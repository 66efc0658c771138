#!/bin/bash

# Parameters
#SBATCH --array=0-2%3
#SBATCH --cpus-per-task=1
#SBATCH --dependency=afterok:103
#SBATCH --error=/LOGS/%A_%a_0_log.err
#SBATCH --job-name=saerl-run-x
#SBATCH --kill-on-invalid-dep=yes
#SBATCH --mem=3072MB
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --open-mode=append
#SBATCH --output=/LOGS/%A_%a_0_log.out
#SBATCH --partition=debug
#SBATCH --requeue
#SBATCH --signal=USR2@30
#SBATCH --time=30
#SBATCH --wckey=submitit

# command
export SUBMITIT_EXECUTOR=slurm
srun --unbuffered --output /LOGS/%A_%a_%t_log.out --error /LOGS/%A_%a_%t_log.err python -u -m submitit.core._submit /LOGS

#!/bin/bash

# Parameters
#SBATCH --cpus-per-task=1
#SBATCH --dependency=afterok:101:102
#SBATCH --error=/LOGS/%j_0_log.err
#SBATCH --job-name=saerl-sae
#SBATCH --kill-on-invalid-dep=yes
#SBATCH --mem=3072MB
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --open-mode=append
#SBATCH --output=/LOGS/%j_0_log.out
#SBATCH --partition=debug
#SBATCH --requeue
#SBATCH --signal=USR2@30
#SBATCH --time=30
#SBATCH --wckey=submitit

# command
export SUBMITIT_EXECUTOR=slurm
srun --unbuffered --output /LOGS/%j_%t_log.out --error /LOGS/%j_%t_log.err python -u -m submitit.core._submit /LOGS

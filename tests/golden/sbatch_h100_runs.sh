#!/bin/bash

# Parameters
#SBATCH --account=my-account
#SBATCH --array=0-2%3
#SBATCH --constraint=h100
#SBATCH --cpus-per-task=12
#SBATCH --dependency=afterok:103
#SBATCH --error=/LOGS/%A_%a_0_log.err
#SBATCH --gpus-per-node=1
#SBATCH --job-name=saerl-run-x
#SBATCH --kill-on-invalid-dep=yes
#SBATCH --mail-type=FAIL
#SBATCH --mem=204800MB
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --open-mode=append
#SBATCH --output=/LOGS/%A_%a_0_log.out
#SBATCH --partition=gpu
#SBATCH --qos=normal
#SBATCH --requeue
#SBATCH --signal=USR2@300
#SBATCH --time=720
#SBATCH --wckey=submitit

# setup
module load cuda/12.4
source $HOME/saerl/.venv/bin/activate

# command
export SUBMITIT_EXECUTOR=slurm
srun --unbuffered --output /LOGS/%A_%a_%t_log.out --error /LOGS/%A_%a_%t_log.err python -u -m submitit.core._submit /LOGS

"""Launching: the stage graph (``graph``), sweeps of it (``sweep``) and the executors that run a plan
(``local``: in this process; Slurm/submitit on a cluster)."""

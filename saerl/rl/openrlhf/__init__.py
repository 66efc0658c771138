"""The OpenRLHF backend (multi-node GPUs, submitted to Slurm), one module per concern:

- command: the OpenRLHF command line rendered from the config, its cross-flag rules, its parser;
- run: the Slurm job's entry point (`python -m saerl.rl.openrlhf.run`), every rank;
- ray_cluster: Ray started inside the Slurm allocation (head on rank 0, workers on the others);
- driver: rank 0's driver, which runs OpenRLHF's trainer with saerl's hooks;
- order: the Ray worker setup hook that keeps the curriculum's order (imports nothing heavy);
- reward: the reward function OpenRLHF calls, saerl's grader;
- model: the actor model folder with the stop tokens vLLM and OpenRLHF read.

This __init__ imports nothing: the hook and the reward run in OpenRLHF's environment, where only
what they import themselves may load.
"""

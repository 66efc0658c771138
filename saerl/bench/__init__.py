"""Benchmarks (`make bench*`): every speed and memory figure the project states is measured here,
never in a timed test. One module per benchmark, one shared writer (reports/<name>.json and .md):

- miniature: the miniature's stages, the features path, SAE training, real shapes and `make demo`
  from scratch (`python -m saerl.bench`, i.e. `make bench`);
- shapes: the SAE route vs a full forward vs rollout labelling at real model shapes;
- scale: features -> signals -> curriculum at DeepMath-103K scale;
- coverage: coverage selection at DeepMath-103K scale.
"""

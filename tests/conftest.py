"""Shared fixtures. Everything runs offline on CPU, with tiny, seeded inputs."""

from __future__ import annotations

import os

# No hub on the machines this suite runs on: fail fast instead of retrying the network.
for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(var, "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("TQDM_DISABLE", "1")

import pytest  # noqa: E402

from saerl.store import ArtifactStore  # noqa: E402


@pytest.fixture
def store(tmp_path):
    return ArtifactStore(tmp_path / "store")

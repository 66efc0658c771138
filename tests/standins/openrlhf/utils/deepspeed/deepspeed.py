"""Stand-in for ``openrlhf/utils/deepspeed/deepspeed.py``: it imports deepspeed at module level, as
the real one does, and its dataloader honours ``shuffle`` with OpenRLHF 0.11.2's signature."""

import random

import deepspeed  # noqa: F401  (the import whose CUDA probe must not run in the setup hook)


class DeepspeedStrategy:
    def setup_dataloader(
        self,
        replay_buffer,
        batch_size: int,
        pin_memory: bool = False,
        shuffle=True,
        collate_fn=None,
        drop_last=True,
        sampler=None,
        consumed_samples=0,
        num_workers: int = 0,
    ):
        items = list(replay_buffer)
        if shuffle:
            random.Random(42).shuffle(items)
        return items

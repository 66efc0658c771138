"""The curriculum: signals -> filtered, clustered, easy-to-hard, mixed batches.

- ``config``: ``CurriculumConfig`` and the modes (the method and its ablations);
- ``order``: the pure ordering function ``build_curriculum`` (no I/O);
- ``stage``: the store stage that writes the ordered parquet file the RL trainer consumes.
"""

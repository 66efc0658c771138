"""saerl: sparse-autoencoder features of a small model to engineer RL post-training data (SAERL)."""

__version__ = "0.1.0"

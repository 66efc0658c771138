"""Per-prompt signals from pooled SAE features: diversity clusters, difficulty, quality."""

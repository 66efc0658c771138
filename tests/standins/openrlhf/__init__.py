"""Stand-in for OpenRLHF 0.11.2's package root (empty, as the real one is)."""

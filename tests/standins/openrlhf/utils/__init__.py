"""Stand-in for ``openrlhf.utils`` (the real one imports no deepspeed either)."""

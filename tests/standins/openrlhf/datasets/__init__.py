"""Stand-in for ``openrlhf.datasets``: PromptDataset is a sequence of prompts."""


class PromptDataset(list):
    pass

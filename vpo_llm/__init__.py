"""vpo_llm — the VPO loss and trainers for causal language models (PyTorch).

Not implemented yet: this package is filled by the issue "LLM core: `vpo_loss`, sequence
log-probs, the enumerable sequence task, …". It exports nothing until then.
"""

__all__: list[str] = []

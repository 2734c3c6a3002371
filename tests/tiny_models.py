"""A tiny sequence-classification reward model saved from config (no download): the judges' tests share it."""

from __future__ import annotations

from pathlib import Path


def save_tiny_reward_model(folder: Path, tokenizer, *, seed: int = 0) -> Path:
    """A one-layer Llama scoring head (one label) over ``tokenizer``'s vocabulary, saved with ``tokenizer`` in
    ``folder``; the weights come from ``seed``."""
    import torch
    from transformers import LlamaConfig, LlamaForSequenceClassification

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, num_labels=1, pad_token_id=0)
    LlamaForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return Path(folder)

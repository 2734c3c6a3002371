"""Causal LMs: a tiny Llama built locally from a config, or a local Hugging Face model folder.

Nothing is downloaded: ``tiny_causal_lm`` builds from ``transformers.LlamaConfig`` with a
seeded initialization; ``load_local_model`` reads a folder the user already has.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch

__all__ = ["TinyLMConfig", "tiny_causal_lm", "load_local_model", "word_tokenizer", "save_tiny_model", "atomic_torch_save"]


@dataclass(frozen=True)
class TinyLMConfig:
    """A small Llama for CPU experiments."""

    vocab_size: int = 16  # token ids 0..vocab_size−1
    hidden_size: int = 32  # model width
    intermediate_size: int = 64  # MLP width
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    max_position_embeddings: int = 32
    seed: int = 0  # initialization seed

    def __post_init__(self):
        for name, value in asdict(self).items():
            if name != "seed" and (not isinstance(value, int) or value < 1):
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError("`hidden_size` must be divisible by `num_attention_heads`")
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError("`num_attention_heads` must be divisible by `num_key_value_heads`")


def atomic_torch_save(obj, path: Path) -> None:
    """``torch.save`` through a temporary file and a rename (``vpo_theory.records.atomic_write``)."""
    from vpo_theory.records import atomic_write

    atomic_write(Path(path), lambda temporary: torch.save(obj, temporary))


def tiny_causal_lm(config: TinyLMConfig = TinyLMConfig(), *, dtype: torch.dtype = torch.float32):
    """A ``LlamaForCausalLM`` with the given sizes and a seeded initialization (no download)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    fields = asdict(config)
    seed = fields.pop("seed")
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = LlamaForCausalLM(LlamaConfig(**fields, tie_word_embeddings=False))
    finally:
        torch.random.set_rng_state(generator_state)
    return model.to(dtype)


def load_local_model(path: str | Path, *, dtype: torch.dtype | None = None, field: str = "model"):
    """(model, tokenizer) from a local Hugging Face folder; never reaches the network. ``field`` names the option
    that gave the folder in error messages."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"`{field}`: {path} is not a Hugging Face model folder (no config.json); "
                                f"download the model yourself and pass its folder")
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    return model, tokenizer


def word_tokenizer(num_words: int):
    """A word-level fast tokenizer, built locally, for tiny models: "<pad>" = 0, "<eos>" = 1, "w0" … "w{n−1}".

    Text splits on white space; decoding joins words with spaces. ``len(tokenizer)`` = num_words + 2 is the
    vocabulary size a ``TinyLMConfig`` needs. Save it beside a tiny model (``save_pretrained``) to make a local
    model folder that ``load_local_model`` and the trainers read like any Hugging Face checkpoint.
    """
    import tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["<pad>", "<eos>"] + [f"w{i}" for i in range(num_words)]
    backend = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab={w: i for i, w in enumerate(words)},
                                                               unk_token="<pad>"))
    backend.pre_tokenizer = tokenizers.pre_tokenizers.WhitespaceSplit()
    backend.decoder = tokenizers.decoders.WordPiece(prefix="##")  # joins words with spaces
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="<eos>")


def save_tiny_model(folder, num_words: int = 14, config: TinyLMConfig | None = None):
    """A local model folder — a tiny Llama and its ``word_tokenizer`` — as a Hugging Face checkpoint; returns the
    tokenizer. For tests and examples without downloads: ``load_local_model(folder)`` reads it back."""
    tokenizer = word_tokenizer(num_words)
    config = config or TinyLMConfig(vocab_size=len(tokenizer))
    tiny_causal_lm(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return tokenizer

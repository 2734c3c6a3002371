"""The LLM experiments' configs: one dataclass per entry point, every field documented once (its help becomes the
command line's ``--help``), each checked by the package's one set of validators  (theory §5, §6, §9).

- ``OfflineConfig``: offline preference training — the built-in enumerable task (exact evaluation), or a local model
  on a local data set (``model`` and ``dataset``);
- ``OnlineConfig``: online training, Algorithm 1 — the built-in task (exact regret) or a local model;
- ``BridgeConfig``: the bandit-to-LLM bridge.

Each holds its VPO term as a ``VPOTerm`` (``term``); everything trains through ``VPOTrainer`` / ``OnlineVPOTrainer``
(``vpo_llm.runs``). This module imports nothing heavy, so a command's ``--help`` answers at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .fields import at_least, check_fields, nonnegative, option, positive, unit_interval
from .term import VPOTerm

__all__ = ["TaskConfig", "RunFields", "OfflineConfig", "OnlineConfig", "BridgeConfig", "LOCAL_MODEL_BETA"]

#: β for a local model when none is given: the common DPO choice (TRL's DPOConfig uses 0.1 too).
LOCAL_MODEL_BETA = 0.1


@dataclass(frozen=True)
class TaskConfig:
    """Sizes and seed of the built-in enumerable task (theory §9)."""

    num_prompts: int = option(4, "X, prompts", check=at_least(1))
    prompt_length: int = option(2, "tokens per prompt", check=at_least(1))
    response_vocab: int = option(4, "V ≥ 2: response tokens are ids 0 … V − 1",
                                 check=at_least(2, "a single response leaves nothing to prefer"))
    response_length: int = option(2, "L: Y = V^L responses, at most 100 000 (each is enumerated)", check=at_least(1))
    feature_dim: int = option(6, "d, the reward's features", check=at_least(1))
    reward_scale: float = option(1.0, "the rewards' standard deviation", check=positive)
    beta: float = option(0.5, "KL strength of the task's objective", check=positive)
    seed: int = option(0, "seed of the task (prompts, features, θ*)", check=at_least(0))

    def __post_init__(self):
        check_fields(self)
        if self.response_vocab ** self.response_length > 100_000:
            raise ValueError("response_vocab ** response_length must be <= 100000 to enumerate every response")

    @property
    def vocab_size(self) -> int:
        """Token ids the model needs: response tokens, then the prompts' tokens."""
        return self.response_vocab + self.num_prompts * self.prompt_length


@dataclass
class RunFields:
    """The fields every training config shares (each config's own fields come first)."""

    learning_rate: float | None = option(None, "AdamW learning rate; None → 3e-3 offline and 1e-3 online on the built-in "
                                               "task, 1e-5 for a local model", check=positive)
    batch_size: int | None = option(None, "pairs per micro-batch; None → 32 on the built-in task, 8 for a local model",
                                         check=at_least(1))
    grad_accumulation: int = option(1, "micro-batches per optimizer step", check=at_least(1))
    weight_decay: float = option(0.0, "AdamW weight decay", check=nonnegative)
    beta: float | None = option(None, "KL strength β; None → the task's β (0.1 for a local model)", check=positive)
    seed: int = option(0, "seed of the data, sampling, labels and initialization", check=at_least(0))
    device: str = option("cpu", '"cpu" or "cuda"', choices=("cpu", "cuda"))
    dtype: str = option("float32", "the model's precision (built-in task)", choices=("float32", "float64"))
    out_dir: str = option("", "run folder (checkpoints, metrics.jsonl, result.json); empty: a temporary folder (the "
                              "command line: runs/MODE-LOSS-seedSEED-TIME)")
    resume: bool = option(True, "continue from the run folder's last checkpoint when there is one")
    progress: bool = option(True, "show progress bars")

    @property
    def local(self) -> bool:
        return bool(getattr(self, "model", ""))

    @property
    def lr(self) -> float:
        """The learning rate that runs: the field, or its default for this kind of run."""
        if self.learning_rate is not None:
            return self.learning_rate
        return 1e-5 if self.local else (1e-3 if isinstance(self, OnlineConfig) else 3e-3)

    @property
    def micro_batch(self) -> int:
        return self.batch_size if self.batch_size is not None else (8 if self.local else 32)

    def beta_for(self, task_beta: float) -> float:
        """β that runs: the field, the task's, or LOCAL_MODEL_BETA for a local model."""
        if self.beta is not None:
            return self.beta
        return LOCAL_MODEL_BETA if self.local else task_beta


@dataclass
class OfflineConfig(RunFields):
    """Offline preference training through ``VPOTrainer``: the built-in task, or a local model and data set."""

    loss: str = option("vpo", '"vpo", "dpo" (the term off) or "ipo"', choices=("vpo", "dpo", "ipo"))
    term: VPOTerm = field(default_factory=VPOTerm, metadata={"help": "the VPO term (theory §5)"})
    num_pairs: int = option(256, "built-in task: N comparisons drawn from π_ref with Bradley–Terry labels from r*",
                            check=at_least(1))
    steps: int = option(200, "optimizer steps", check=at_least(1))
    eval_every: int = option(20, "exact evaluation (built-in task), logging and checkpoints every this many steps",
                             check=at_least(1))
    reference_pretrain_steps: int = option(0, "built-in task: fit π_ref towards a skewed target first (0: the random "
                                              "initialization is π_ref)", check=at_least(0))
    task: TaskConfig = field(default_factory=lambda: TaskConfig(response_length=2, response_vocab=4),
                             metadata={"help": "the built-in task's sizes"})
    model: str = option("", "folder of a local Hugging Face causal LM (config.json, weights, tokenizer): train it on "
                            "`dataset` instead of the built-in task; nothing is downloaded")
    dataset: str = option("", 'with model: a JSONL file, one {"prompt", "chosen", "rejected"} object per line (text or '
                              'messages)')
    eval_dataset: str = option("", "with model: an optional JSONL file of held-out pairs, evaluated every eval_every "
                                   "steps")
    max_length: int = option(512, "with model: prompt + completion tokens kept (TRL's keep_start truncation); rows "
                                  "whose prompt alone fills it are dropped and counted", check=at_least(1))
    lora_r: int = option(0, "with model: LoRA rank on the linear layers (0: full fine-tuning)", check=at_least(0))
    bf16: bool = option(False, "with model: bfloat16 autocast (TRL turns it on unless told; off, CPU runs are exact)")
    gradient_checkpointing: bool = option(False, "with model: recompute activations in the backward pass")

    def __post_init__(self):
        check_fields(self)
        if not isinstance(self.term, VPOTerm):
            raise TypeError(f"`term` must be a VPOTerm, got {type(self.term).__name__}")
        if bool(self.model) != bool(self.dataset):
            raise ValueError("`model` (a local model folder) and `dataset` (a JSONL file) go together: pass both, or "
                             "neither for the built-in task")
        if self.eval_dataset and not self.model:
            raise ValueError("`eval_dataset` applies to a local `model` and `dataset`; pass --model too")
        if not self.model and self.term.calibration == "column":
            raise ValueError("`calibration` 'column' needs your own data set (`model` and `dataset`); the built-in task "
                             "has 'chosen', 'behavior' or 'reference'")


@dataclass
class OnlineConfig(RunFields):
    """Online training (Algorithm 1, theory §6) through ``OnlineVPOTrainer``: the built-in task or a local model."""

    loss: str = option("vpo", '"vpo" (value-incentivized, the term\'s sign) or "dpo" (online DPO: the term off)',
                       choices=("vpo", "dpo"))
    term: VPOTerm = field(default_factory=lambda: VPOTerm(sign=1, alpha_scale=0.1, calibration="reference"),
                          metadata={"help": "the VPO term (theory §5): s = +1 and π_cal = π_ref online"})
    iterations: int = option(20, "T: rounds of generate → label → train", check=at_least(1))
    prompts_per_iteration: int = option(16, "new pairs per round", check=at_least(1))
    steps_per_iteration: int = option(10, "optimizer steps after each round of data collection", check=at_least(1))
    scheme: str = option("policy-ref", "pair sampling: y¹ ~ π_t and y² from the π_ref pool, or both ~ π_t",
                         choices=("policy-ref", "policy-policy"))
    samples_per_prompt: int = option(2, "N ≥ 2 responses per prompt (from π_t; under policy-ref the last one from the "
                                        "π_ref pool), ranked by the judge and paired by pair_selection",
                                     check=at_least(2, "a pair"))
    pair_selection: str = option("random", "which two of the N responses form the pair: two at random, or the best "
                                           "and the worst by the judge (theory §6)", choices=("random", "best-worst"))
    ref_samples_per_prompt: int = option(16, "size of each prompt's cached π_ref pool (generated once)",
                                         check=at_least(1))
    accumulate: bool = option(True, "train on every pair so far (D_t = D_{t−1} ∪ new) or on the fresh pairs only")
    temperature: float = option(1.0, "sampling temperature of π_t (π_ref samples always use 1)", check=positive)
    top_p: float = option(1.0, "nucleus sampling of π_t, in (0, 1] (1 = off)", check=unit_interval)
    max_new_tokens: int = option(0, "response tokens a local model generates; 0 → 32 (the built-in task: its L)",
                                 check=at_least(0))
    reference_pretrain_steps: int = option(50, "built-in task: fit π_ref towards a target first (0: the random init)",
                                           check=at_least(0))
    reference_target: str = option("skewed", "that target: a random Dirichlet policy, or little mass on the best "
                                             "responses", choices=("skewed", "trap"))
    task: TaskConfig = field(default_factory=lambda: TaskConfig(response_length=2, response_vocab=4),
                             metadata={"help": "the built-in task's sizes"})
    model: str = option("", "folder of a local Hugging Face causal LM: train it instead of the built-in task")
    prompts: str | None = option("", 'with model: a JSONL file with a "prompt" text per line (None: rows given to '
                                     "train_online)")
    reward_model: str = option("", "with model: folder of a local reward model (AutoModelForSequenceClassification); "
                                   "its own tokenizer and chat template are used")
    oracle_sample: bool = option(True, "labels drawn from Bradley–Terry (True) or the deterministic argmax (False)")

    def __post_init__(self):
        check_fields(self)
        if self.term.calibration not in ("reference", "chosen", "behavior"):
            raise ValueError(f"`calibration` must be 'reference', 'chosen' or 'behavior' online, got "
                             f"{self.term.calibration!r}")
        if self.model and not self.prompts and self.prompts is not None:
            raise ValueError("a local `model` needs `prompts` (a JSONL file of prompts; or pass "
                             "train_online(config, prompts=rows) and set prompts=None)")
        if (self.prompts or self.reward_model) and not self.model:
            raise ValueError("`prompts` and `reward_model` apply to a local `model`; pass --model too")


@dataclass
class BridgeConfig:
    """The bandit-to-LLM bridge (theory §9): a transformer trained through ``VPOTrainer`` on a fixed data set reaches
    ``fit_vpo``'s exact tabular policy."""

    num_prompts: int = option(4, "X", check=at_least(1))
    response_vocab: int = option(6, "Y: one-token responses", check=at_least(1))
    num_pairs: int = option(200, "N pairs drawn from π_ref", check=at_least(1))
    term: VPOTerm = field(default_factory=lambda: VPOTerm(sign=-1, alpha_scale=1.0, calibration="behavior"),
                          metadata={"help": "s = −1 (a unique minimizer over the unbounded class), a = c/√N, π_cal = "
                                            "both responses of each pair"})
    steps: int = option(400, "full-batch AdamW steps", check=at_least(1))
    learning_rate: float = option(3e-2, "cosine-decayed to 0", check=positive)
    eval_every: int = option(10, "exact TV every this many steps", check=at_least(1))
    seed: int = option(0, "seed of the task, the model and the data", check=at_least(0))

    def __post_init__(self):
        check_fields(self)
        if self.term.sign != -1 or self.term.calibration != "behavior":
            raise ValueError("the bridge compares with the unique minimizer of s = −1 and π_cal = 'behavior' (the "
                             "pairs' responses): keep term.sign = -1 and term.calibration = 'behavior'")

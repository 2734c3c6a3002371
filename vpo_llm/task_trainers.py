"""The enumerable task through the TRL trainers  (theory §9): what users run, evaluated exactly.

Three adaptations make a TRL trainer's sequence policy the task's policy — the causal LM restricted to the
response tokens at each of the L positions — without changing the trainers:

- a word-level tokenizer whose ids are the task's ("r{i}" response token i, "p{j}" prompt token V + j), so the
  task's pairs become TRL rows of text (``prompt_text``, ``response_text``);
- a frozen bias of ``EXCLUDED_LOGIT_BIAS`` on the LM head's non-response tokens: exp(−10⁴) is exactly 0 in
  floating point, so the full softmax TRL's fused head computes *is* the restricted one;
- ``vpo_completion_eos=False``: a task response has no end token, so the EOS TRL appends is removed.

The exact J, KL and SubOpt of the policy are recorded by enumeration (``ExactEvaluation``, a ``TrainerCallback``);
π_ref can be fitted towards a target policy first (``fit_reference``, through ``transformers.Trainer``). The
experiments themselves run in ``vpo_llm.runs``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from transformers import PrinterCallback, Trainer, TrainerCallback, TrainingArguments

from vpo_theory.records import atomic_write_text

from .models import TinyLMConfig, atomic_torch_save, tiny_causal_lm
from .oracles import BradleyTerryOracle
from .tasks import EnumerableTask

__all__ = ["EXCLUDED_LOGIT_BIAS", "task_tokenizer", "restrict_to_responses", "prompt_text", "response_text",
           "response_index", "task_trainer_model", "ExactEvaluation", "TaskTextOracle", "task_setup", "fit_reference",
           "reference_cache_dir", "exact_history"]

#: The skewed reference target is drawn with seed + this offset, so that it is not the same stream as the model's
#: initialization (which uses the seed itself).
REFERENCE_TARGET_SEED_OFFSET = 17

#: The bias that removes a token from the policy: exp(−1e4 + O(10)) underflows to exactly 0 in float32 and float64.
EXCLUDED_LOGIT_BIAS = -1e4


def task_tokenizer(task: EnumerableTask):
    """A word-level tokenizer whose ids are the task's: "r0" … "r{V−1}" the response tokens, "p{j}" prompt token
    V + j; "<pad>" and "<eos>" follow them (a model for it needs ``task.config.vocab_size + 2`` ids)."""
    import tokenizers
    from transformers import PreTrainedTokenizerFast

    V, prompt_tokens = task.config.response_vocab, task.config.num_prompts * task.config.prompt_length
    words = [f"r{i}" for i in range(V)] + [f"p{j}" for j in range(prompt_tokens)] + ["<pad>", "<eos>"]
    backend = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab={w: i for i, w in enumerate(words)},
                                                               unk_token="<pad>"))
    backend.pre_tokenizer = tokenizers.pre_tokenizers.WhitespaceSplit()
    backend.decoder = tokenizers.decoders.WordPiece(prefix="##")
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="<eos>")


def restrict_to_responses(model, response_vocab: int):
    """Give the LM head a frozen bias of 0 on the response tokens and ``EXCLUDED_LOGIT_BIAS`` elsewhere: the model's
    full-vocabulary softmax (what TRL's fused head computes) is then exactly the task's policy, the softmax over
    the response tokens (theory §9). Returns the model."""
    head = model.get_output_embeddings()
    biased = torch.nn.Linear(head.in_features, head.out_features, bias=True, dtype=head.weight.dtype)
    with torch.no_grad():
        biased.weight.copy_(head.weight)
        biased.bias.fill_(EXCLUDED_LOGIT_BIAS)
        biased.bias[:response_vocab] = 0.0
    biased.bias.requires_grad_(False)
    model.set_output_embeddings(biased)
    return model



def prompt_text(task: EnumerableTask, x: int) -> str:
    """Prompt x as text: its tokens "p{j}" (``task_tokenizer``)."""
    return " ".join(f"p{int(t) - task.config.response_vocab}" for t in task.prompts[int(x)])


def response_text(task: EnumerableTask, y: int) -> str:
    """Response y as a completion text: " r{t₁} … r{t_L}" (the leading space separates it from the prompt)."""
    return "".join(f" r{int(t)}" for t in task.responses[int(y)])


def response_index(task: EnumerableTask, text: str) -> int:
    """The response index of a completion text (``response_text``'s inverse)."""
    tokens = [int(word[1:]) for word in text.split()]
    if len(tokens) != task.config.response_length or any(not 0 <= t < task.config.response_vocab for t in tokens):
        raise ValueError(f"{text!r} is not a response of the task (L = {task.config.response_length} tokens r0…"
                         f"r{task.config.response_vocab - 1})")
    return int(np.ravel_multi_index(tokens, (task.config.response_vocab,) * task.config.response_length))


def task_trainer_model(model, task: EnumerableTask, tokenizer):
    """A task model made ready for the TRL trainers: its vocabulary grown by the tokenizer's pad and EOS ids
    (new rows seeded, never predicted) and its head restricted to the response tokens."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    for settings in (model.config, model.generation_config):  # Llama's default ids (bos 1, eos 2) are task tokens
        settings.bos_token_id, settings.eos_token_id = None, tokenizer.eos_token_id
        settings.pad_token_id = tokenizer.pad_token_id
    return restrict_to_responses(model, task.config.response_vocab)


class ExactEvaluation(TrainerCallback):
    """Every ``every`` steps (and at step 0), the exact J(r⋆, π), E_π r⋆, KL and SubOpt of the trainer's model by
    enumeration (``EnumerableTask.evaluate``), kept in the trainer's ``state.log_history`` (so a checkpoint carries
    them and a resumed run continues the same history) and, with ``out``, rewritten to ``out/metrics.jsonl``."""

    def __init__(self, task: EnumerableTask, pi_ref: np.ndarray, every: int, out: Path | None = None):
        self.task, self.pi_ref, self.every, self.out = task, pi_ref, every, out

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if not exact_history(state.log_history):  # a resumed run has its step-0 row already
            self._record(state, model, 0)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.every == 0 or state.global_step == state.max_steps:
            self._record(state, model, state.global_step)

    def _record(self, state, model, step: int) -> None:
        if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
            raise FloatingPointError(f"non-finite parameters at step {step} (a non-finite loss or gradient); the last "
                                     f"checkpoint is intact — lower learning_rate or check the inputs")
        state.log_history.append({"step": step, "exact": True, **self.task.evaluate(model, self.pi_ref)})
        if self.out is not None and state.is_world_process_zero:
            atomic_write_text(self.out / "metrics.jsonl",
                              "".join(json.dumps(row) + "\n" for row in exact_history(state.log_history)))


def exact_history(log_history: list[dict]) -> list[dict]:
    """The exact-evaluation rows of a trainer's log (``ExactEvaluation``), without their marker."""
    return [{k: v for k, v in row.items() if k != "exact"} for row in log_history if row.get("exact")]


class TaskTextOracle(BradleyTerryOracle):
    """Bradley–Terry labels from the task's r⋆ for text pairs (prompt and completion texts → indices)."""

    def __init__(self, task: EnumerableTask, *, sample: bool = True):
        super().__init__(task.reward, sample=sample)
        self.task = task
        self.prompt_of = {prompt_text(task, x): x for x in range(task.config.num_prompts)}

    def __call__(self, prompts, first, second, rng: np.random.Generator) -> np.ndarray:
        x = [self.prompt_of[p] for p in prompts]
        return super().__call__(x, [response_index(self.task, t) for t in first],
                                [response_index(self.task, t) for t in second], rng)

    def scores(self, prompts, responses) -> np.ndarray:
        """r⋆(x, y) of each (prompt, response) text: the judge's ranking for best-of-N pairs."""
        return self.reward[[self.prompt_of[p] for p in prompts], [response_index(self.task, t) for t in responses]]


def task_setup(config, *, target: str = "skewed"):
    """(task, tokenizer, model, reference, π_ref) of an experiment on the built-in task: the tiny Llama (seeded),
    π_ref fitted towards ``target`` for ``config.reference_pretrain_steps`` steps, adapted for the TRL trainers, and
    a frozen copy of it as the reference."""
    task = EnumerableTask(config.task)
    tokenizer = task_tokenizer(task)
    dtype = {"float32": torch.float32, "float64": torch.float64}[config.dtype]
    model = tiny_causal_lm(TinyLMConfig(vocab_size=task.config.vocab_size, seed=config.seed), dtype=dtype)
    model = model.to(config.device)
    if config.reference_pretrain_steps:
        fit_reference(model, task, config.reference_pretrain_steps, seed=config.seed, target=target)
    model = task_trainer_model(model, task, tokenizer)
    reference = copy.deepcopy(model).eval().requires_grad_(False)
    return task, tokenizer, model, reference, task.policy_table(reference)


def reference_cache_dir() -> Path:
    """Where fitted reference policies are cached: $VPO_CACHE_DIR, else ~/.cache/vpo."""
    return Path(os.environ.get("VPO_CACHE_DIR", Path.home() / ".cache" / "vpo"))


class _ReferenceTrainer(Trainer):
    """Cross-entropy of the task's whole policy table against a target policy: −Σ_x mean Σ_y p(y|x) log π(y|x)."""

    def __init__(self, *args, task: EnumerableTask, target: torch.Tensor, **kwargs):
        super().__init__(*args, **kwargs)
        self.task, self.target = task, target

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        logp = self.task.policy_logps(model)  # (X, Y), every response enumerated
        loss = -(self.target.to(logp) * logp).sum(1).mean()
        return (loss, None) if return_outputs else loss


def fit_reference(model, task: EnumerableTask, steps: int, *, seed: int, target: str = "skewed") -> None:
    """Make π_ref non-uniform: ``steps`` full-table cross-entropy steps (Adam, 1e-2) towards a target policy, through
    ``transformers.Trainer``. ``target="skewed"``: a random Dirichlet(0.5) policy per prompt; ``"trap"``: ∝
    exp(−2 r⋆/sd(r⋆)), little mass on the best responses (the online trap). The fitted weights are cached on disk,
    keyed by the task, model, steps and target (a hash), so every run and seed that shares a reference trains it once.
    """
    if target not in ("skewed", "trap"):
        raise ValueError(f"`reference_target` must be 'skewed' or 'trap', got {target!r}")
    key = json.dumps({"task": asdict(task.config), "model": model.config.to_dict(), "steps": steps, "seed": seed,
                      "dtype": str(next(model.parameters()).dtype), "target": target, "trainer": "transformers"},
                     sort_keys=True, default=str)
    path = reference_cache_dir() / f"reference-{hashlib.sha256(key.encode()).hexdigest()[:20]}.pt"
    if path.exists():
        model.load_state_dict(torch.load(path, map_location=next(model.parameters()).device, weights_only=True))
        return
    if target == "trap":
        probs = torch.softmax(torch.tensor(-2.0 * task.reward / task.reward.std()), dim=1)  # (X, Y)
    else:
        rng = np.random.default_rng(seed + REFERENCE_TARGET_SEED_OFFSET)
        probs = torch.tensor(rng.dirichlet(np.full(task.num_responses, 0.5), size=task.config.num_prompts))
    import tempfile

    with tempfile.TemporaryDirectory(prefix="vpo-reference-") as folder:
        args = TrainingArguments(output_dir=folder, max_steps=steps, learning_rate=1e-2, lr_scheduler_type="constant",
                                 weight_decay=0.0, max_grad_norm=0.0, per_device_train_batch_size=1, report_to=[],
                                 save_strategy="no", logging_strategy="no", disable_tqdm=True, seed=seed,
                                 use_cpu=next(model.parameters()).device.type == "cpu", remove_unused_columns=False)
        trainer = _ReferenceTrainer(model=model, args=args, train_dataset=[{"step": 0}], task=task, target=probs,
                                    data_collator=lambda rows: {"step": torch.zeros(len(rows))})
        trainer.remove_callback(PrinterCallback)  # silent: a step of the setup, not a run the user asked for
        trainer.train()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_torch_save(model.state_dict(), path)

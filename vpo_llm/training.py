"""Offline training of a causal LM with ``vpo_loss`` (or DPO / IPO) on the enumerable task  (theory §5, §7, §9).

One config dataclass (its fields are the command line's flags), one loop you can read top to
bottom: data from the reference policy with Bradley–Terry labels from r*, AdamW, gradient
accumulation, metrics to JSONL, exact evaluation by enumeration, atomic checkpoints and resume.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm  # plain text bars: also right in notebooks without ipywidgets

import vpo_theory as vt
from vpo_theory import kernels
from vpo_theory.records import atomic_write, atomic_write_text

from .fields import PreferenceLossFields, check_fields, option
from .losses import dpo_loss, ipo_loss, vpo_loss
from .models import TinyLMConfig, tiny_causal_lm
from .tasks import EnumerableTask, TaskConfig

__all__ = ["OfflineConfig", "train_offline", "DatasetConfig", "train_on_dataset"]

#: Seeds of per-step (or per-iteration, per-prompt) generators are seed·SEED_STRIDE + index: a prime larger than
#: any step count, so no two (seed, index) pairs share a generator and a resumed run draws what it would have drawn.
SEED_STRIDE = 1_000_003

#: The skewed reference target is drawn with seed + this offset, so that it is not the same stream as the model's
#: initialization (which uses the seed itself).
REFERENCE_TARGET_SEED_OFFSET = 17


@dataclass
class OfflineConfig(PreferenceLossFields):
    """Offline preference training on the built-in enumerable task."""

    calibration: str = option(
        "chosen",
        'π_cal: "chosen" (preferred responses), "behavior" (both responses of each pair: the data-collecting policy), or "ref" (cached reference samples)')
    ref_samples_per_prompt: int = option(8, 'calibration "ref": samples drawn once per prompt from π_ref')
    beta: float | None = option(None, "KL strength of the loss; None → the task's β")
    num_pairs: int = option(256, "N, comparisons drawn from π_ref with BT labels from r*")
    steps: int = option(200, "optimizer steps")
    batch_size: int = option(32, "pairs per micro-batch")
    learning_rate: float = option(3e-3, "AdamW learning rate")
    eval_every: int = option(20, "exact evaluation (enumeration) every this many steps")
    dtype: str = option("float32", '"float32" or "float64"')
    task: TaskConfig = field(default_factory=lambda: TaskConfig(response_length=2, response_vocab=4))
    reference_pretrain_steps: int = option(0, ">0: fit π_ref by supervised training towards a skewed target first")

    def __post_init__(self):
        check_fields(self, positive_ints=("num_pairs", "steps", "batch_size", "grad_accumulation", "eval_every",
                                          "ref_samples_per_prompt"),
                     nonnegative_ints=("reference_pretrain_steps",), positive=("learning_rate", "beta"),
                     nonnegative=("alpha_scale", "weight_decay"), booleans=("resume", "skip_nonfinite"),
                     choices={"loss": ("vpo", "dpo", "ipo"), "sign": (1, -1),
                              "calibration": ("chosen", "behavior", "ref"), "cal_normalization": ("sum", "token_mean"),
                              "dtype": ("float32", "float64")})

    @property
    def mean_alpha(self) -> float:
        """The mean-form weight a = α/N with α = alpha_scale·√N (theory §5)."""
        return kernels.mean_form_weight(self.alpha_scale, self.num_pairs) if self.loss == "vpo" else 0.0


def atomic_torch_save(obj, path: Path) -> None:
    """``torch.save`` through a temporary file and a rename (``vpo_theory.records.atomic_write``)."""
    atomic_write(path, lambda temporary: torch.save(obj, temporary))


def train_offline(config: OfflineConfig, *, progress: bool = True) -> dict:
    """Train; return {"history": [eval rows], "final": eval row, "pi_ref", "policy": π tables, "instance": the
    task as a bandit instance, "data": the pairs, "model": the trained model}."""
    torch_dtype = {"float32": torch.float32, "float64": torch.float64}[config.dtype]
    device = torch.device(config.device)
    task = EnumerableTask(config.task)
    beta = config.beta if config.beta is not None else config.task.beta
    model = task_model(task, seed=config.seed, dtype=torch_dtype, device=device, steps=config.reference_pretrain_steps)
    reference = copy.deepcopy(model).eval().requires_grad_(False)
    with torch.no_grad():
        ref_table = task.policy_logps(reference)  # (X, Y) log π_ref, computed once
    pi_ref = task.policy_table(reference)
    instance = task.bandit_instance(pi_ref)

    # data: N pairs from π_ref with BT labels from r* (theory §7)
    rng = np.random.default_rng(config.seed)
    data = vt.sample_preferences(rng, instance.rho, pi_ref, instance.reward, config.num_pairs)
    x, winner, loser = (torch.as_tensor(a, device=device) for a in data.astuple())
    ref_samples = reference_samples(rng, pi_ref, config.ref_samples_per_prompt)  # (X, K) response indices, cached

    def batch_loss(model, indices):
        return task_batch_loss(model, task, config, beta, ref_table, ref_samples, x[indices], winner[indices], loser[indices])

    def evaluate(model, step: int) -> dict:
        with torch.no_grad():  # the training loss over the whole data set, for the record
            full_loss, _ = task_batch_loss(model, task, config, beta, ref_table, ref_samples, x, winner, loser)
        return {"step": step, "loss/full": full_loss.item(), **task.evaluate(model, pi_ref)}

    history = optimize(model, config, batch_loss, evaluate, progress=progress)
    return {"history": history, "final": history[-1], "pi_ref": pi_ref, "policy": task.policy_table(model),
            "instance": instance, "data": data, "model": model}


def optimize(model, config, batch_loss, evaluate, *, progress: bool = True) -> list[dict]:
    """The training loop shared by every offline trainer: AdamW, accumulation, evaluation, checkpoints.

    ``batch_loss(model, indices (B,)) -> (loss, metrics)`` on a micro-batch of pair indices;
    ``evaluate(model, step) -> dict``; ``model`` is the (possibly Accelerate-wrapped) model. ``config`` supplies steps, num_pairs, batch_size,
    grad_accumulation, eval_every, learning_rate, weight_decay, seed, out_dir, resume, device.
    Resumes from ``out_dir/checkpoint.pt`` (written atomically at every evaluation).
    """
    from accelerate import Accelerator

    # Accelerate places the model and, under `accelerate launch` with several processes, wraps it
    # for data parallelism: each process then takes its share of every micro-batch and the
    # gradients are averaged, so the update equals the single-process one with the same global batch.
    accelerator = Accelerator(cpu=config.device == "cpu")
    world = accelerator.num_processes
    if config.batch_size % world:
        raise ValueError(f"`batch_size` ({config.batch_size}) must be divisible by the number of processes ({world})")
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    out = Path(config.out_dir) if config.out_dir else None
    start_step, history, skipped = 0, [], 0
    if out is not None and (out / "checkpoint.pt").exists() and config.resume:
        state = torch.load(out / "checkpoint.pt", map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_step, history = state["step"], state["history"]
        skipped = history[-1].get("skipped_steps", 0) if history else 0
    model, optimizer = accelerator.prepare(model, optimizer)
    if out is not None and accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(asdict(config), indent=1, default=str))
    if start_step == 0:
        history.append(evaluate(model, 0))
    generator_seed = config.seed * SEED_STRIDE
    bar = tqdm(range(start_step, config.steps), desc=f"{config.loss} offline",
               disable=not (progress and accelerator.is_main_process), leave=False)
    for step in bar:
        torch.manual_seed(generator_seed + step)  # the batch of a step is fixed by (seed, step): resume-safe
        # the step's pairs are drawn at once, then split: batch 8 × accumulation 1 and batch 1 ×
        # accumulation 8 see the same 8 pairs and take the same update
        indices = torch.randint(0, config.num_pairs, (config.grad_accumulation, config.batch_size))
        metrics = accumulated_step(model, optimizer, accelerator, batch_loss, indices, where=f"step {step + 1}",
                                   skip_nonfinite=config.skip_nonfinite)
        skipped += metrics.pop("skipped", 0)
        if (step + 1) % config.eval_every == 0 or step + 1 == config.steps:
            row = evaluate(model, step + 1)
            row.update({key: value for key, value in metrics.items() if "/" in key})
            row["skipped_steps"] = skipped
            history.append(row)
            bar.set_postfix({k: f"{row[k]:.4f}" for k in ("loss/full", "suboptimality") if k in row})
            if out is not None and accelerator.is_main_process:
                # checkpoint first, then the metrics rewritten from the checkpoint's history: a kill at
                # any moment leaves the two consistent (no duplicated or missing rows after a resume)
                atomic_torch_save({"model": accelerator.unwrap_model(model).state_dict(),
                                    "optimizer": optimizer.state_dict(), "step": step + 1, "history": history},
                                   out / "checkpoint.pt")
                atomic_write_text(out / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in history))
            accelerator.wait_for_everyone()
    return history


def accumulated_step(model, optimizer, accelerator, batch_loss, indices: torch.Tensor, *, where: str,
                     skip_nonfinite: bool = False) -> dict:
    """One optimizer step over micro-batches ``indices`` (G, B) of item indices; returns the last metrics.

    Each process takes its share ``batch[rank::world]`` of every micro-batch and the gradients are
    averaged, so the update equals the one-process update with the same global batch. A non-finite
    loss or gradient stops before the parameters change (the last checkpoint stays intact), or,
    with ``skip_nonfinite``, skips the step: metrics then hold {"skipped": 1}.
    """
    world, rank = accelerator.num_processes, accelerator.process_index
    optimizer.zero_grad(set_to_none=True)
    metrics, problem = {}, None
    for batch in indices:
        loss, metrics = batch_loss(model, batch[rank::world].to(accelerator.device))  # this process's share
        if not torch.isfinite(loss):
            problem = f"non-finite loss {loss.item()} at {where} (items {batch.tolist()})"
            break
        accelerator.backward(loss / len(indices))  # mean over micro-batches (and processes)
    if problem is None:
        gradients = [p.grad for p in model.parameters() if p.grad is not None]
        if gradients and not torch.isfinite(torch.stack([g.detach().abs().max() for g in gradients]).max()):
            problem = f"non-finite gradient at {where} (items {indices.tolist()})"
    if problem is not None:
        optimizer.zero_grad(set_to_none=True)
        if skip_nonfinite:
            return {"skipped": 1}
        raise FloatingPointError(f"{problem}; the parameters were not updated and the last checkpoint is intact — "
                                 f"lower learning_rate, check the inputs, or set skip_nonfinite=True")
    optimizer.step()
    return metrics


def reference_samples(rng: np.random.Generator, pi_ref: np.ndarray, per_prompt: int) -> np.ndarray:
    """K responses per prompt drawn once from π_ref; their log-probs come from the cached table."""
    per_sample = np.broadcast_to(pi_ref[:, None, :], (pi_ref.shape[0], per_prompt, pi_ref.shape[1]))  # (X, K, Y)
    return kernels.sample_categorical(rng, per_sample)  # (X, K)


def task_batch_loss(model, task, config, beta, ref_table, ref_samples, x, winner, loser):
    """Policy log-probs of the batch (chosen, rejected, calibration) and the configured loss."""
    chosen = task.response_logps(model, task.pair_inputs(x, winner))  # (B,)
    rejected = task.response_logps(model, task.pair_inputs(x, loser))
    ref_chosen, ref_rejected = ref_table[x, winner], ref_table[x, loser]
    if config.loss == "dpo":
        return dpo_loss(chosen, rejected, ref_chosen, ref_rejected, beta=beta)
    if config.loss == "ipo":
        return ipo_loss(chosen, rejected, ref_chosen, ref_rejected, beta=beta)
    length = config.task.response_length
    if config.calibration == "chosen":  # π_cal = empirical chosen distribution: reuse the chosen log-probs
        policy_cal, ref_cal = chosen, ref_chosen
    elif config.calibration == "behavior":  # π_cal = μ: both responses of a pair are draws from it
        policy_cal, ref_cal = torch.cat([chosen, rejected]), torch.cat([ref_chosen, ref_rejected])
    else:  # cached reference samples of the batch's prompts
        samples = torch.as_tensor(ref_samples[x.cpu().numpy()]).reshape(-1)  # (B·K,)
        contexts = x.repeat_interleave(ref_samples.shape[1])
        policy_cal = task.response_logps(model, task.pair_inputs(contexts, samples))
        ref_cal = ref_table[contexts, samples]
    counts = torch.full_like(policy_cal, float(length))
    return vpo_loss(chosen, rejected, ref_chosen, ref_rejected, policy_cal, ref_cal, beta=beta,
                    alpha=config.mean_alpha, sign=config.sign, cal_token_counts=counts,
                    cal_normalization=config.cal_normalization)


def reference_cache_dir() -> Path:
    """Where fitted reference policies are cached: $VPO_CACHE_DIR, else ~/.cache/vpo."""
    return Path(os.environ.get("VPO_CACHE_DIR", Path.home() / ".cache" / "vpo"))


def task_model(task: EnumerableTask, *, seed: int, dtype: torch.dtype, device, steps: int, target: str = "skewed"):
    """The tiny Llama of the built-in task (seeded), moved to ``device`` and fitted to its reference policy
    by ``steps`` cross-entropy steps (none: the random initialization is π_ref). Offline and online both start here."""
    model = tiny_causal_lm(TinyLMConfig(vocab_size=task.config.vocab_size, seed=seed), dtype=dtype).to(device)
    if steps:
        _pretrain_reference(model, task, steps, seed=seed, target=target)
    return model


def _pretrain_reference(model, task: EnumerableTask, steps: int, *, seed: int, target: str = "skewed") -> None:
    """Make π_ref non-uniform: cross-entropy steps towards a target policy.

    ``target="skewed"``: a random Dirichlet(0.5) policy per prompt. ``target="trap"``: a policy
    ∝ exp(−2 r*/sd(r*)) that puts little mass on the best responses (the online trap instance).

    The fitted weights are cached on disk, keyed by the task, model and step count (a hash of
    their configs), so every run and seed that shares a reference trains it once.
    """
    if target not in ("skewed", "trap"):
        raise ValueError(f"`reference_target` must be 'skewed' or 'trap', got {target!r}")
    key = json.dumps({"task": asdict(task.config), "model": model.config.to_dict(), "steps": steps, "seed": seed,
                      "dtype": str(next(model.parameters()).dtype)} | ({"target": target} if target != "skewed" else {}),
                     sort_keys=True, default=str)
    path = reference_cache_dir() / f"reference-{hashlib.sha256(key.encode()).hexdigest()[:20]}.pt"
    if path.exists():
        model.load_state_dict(torch.load(path, map_location=next(model.parameters()).device, weights_only=True))
        return
    rng = np.random.default_rng(seed + REFERENCE_TARGET_SEED_OFFSET)
    if target == "trap":
        logits = -2.0 * task.reward / task.reward.std()
        probs = torch.softmax(torch.tensor(logits), dim=1)  # (X, Y)
    else:
        probs = torch.tensor(rng.dirichlet(np.full(task.num_responses, 0.5), size=task.config.num_prompts))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        logp = task.policy_logps(model)
        loss = -(probs.to(logp.dtype) * logp).sum(1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_torch_save(model.state_dict(), path)


@dataclass
class DatasetConfig(PreferenceLossFields):
    """Offline preference training of a local Hugging Face model on a local TRL-layout data set, through
    ``VPOTrainer`` (TRL's DPOTrainer plus VPO's term): batches stream from a memory-mapped data set."""

    model: str = option(
        "",
        "folder of a Hugging Face causal LM (config.json, weights, tokenizer); nothing is downloaded")
    dataset: str = option("", 'JSONL file, one {"prompt", "chosen", "rejected"} object per line (text or messages)')
    eval_dataset: str = option("", "optional JSONL file of held-out pairs: evaluated every eval_every steps")
    calibration: str = option(
        "chosen",
        'π_cal: "chosen", "behavior" (both responses of each pair), "column" (the rows\' "calibration": samples '
        'from your π_cal) or "reference" (one π_ref sample per row, drawn once)')
    beta: float = option(0.1, "KL strength")
    max_length: int = option(512, "prompt + completion tokens kept (TRL's keep_start truncation); rows whose prompt "
                                  "alone fills it are dropped and counted")
    steps: int = option(100, "optimizer steps")
    batch_size: int = option(8, "pairs per micro-batch")
    learning_rate: float = option(1e-5, "AdamW learning rate")
    eval_every: int = option(20, "log, checkpoint (and evaluate) every this many steps")
    lora_r: int = option(0, "LoRA rank on the attention projections (0: full fine-tuning)")
    bf16: bool = option(False, "bfloat16 autocast (TRL's DPOConfig turns it on unless told; off here so CPU runs are exact)")
    gradient_checkpointing: bool = option(False, "recompute activations in the backward pass (less memory)")

    def __post_init__(self):
        if not self.model or not self.dataset:
            raise ValueError("`model` (a local model folder) and `dataset` (a JSONL file) are both required")
        check_fields(self, positive_ints=("steps", "batch_size", "grad_accumulation", "eval_every", "max_length"),
                     nonnegative_ints=("lora_r",), positive=("beta", "learning_rate"),
                     nonnegative=("alpha_scale", "weight_decay"),
                     booleans=("resume", "skip_nonfinite", "bf16", "gradient_checkpointing"),
                     choices={"loss": ("vpo", "dpo", "ipo"), "sign": (1, -1), "cal_normalization": ("sum", "token_mean"),
                              "calibration": ("chosen", "behavior", "column", "reference")})
        if self.skip_nonfinite:
            raise ValueError("`skip_nonfinite` is not available with a local model (TRL's Trainer stops on its own "
                             "terms); lower learning_rate instead")

    def trainer_config(self, output_dir: str, *, progress: bool = True):
        """The ``VPOConfig`` of this run (TRL's names; α = alpha_scale·√N in mean form, a = alpha_scale/√N)."""
        from .trainers import VPOConfig

        return VPOConfig(
            output_dir=output_dir, beta=self.beta, max_length=self.max_length, max_steps=self.steps,
            per_device_train_batch_size=self.batch_size, per_device_eval_batch_size=self.batch_size,
            gradient_accumulation_steps=self.grad_accumulation, learning_rate=self.learning_rate,
            weight_decay=self.weight_decay, seed=self.seed, use_cpu=self.device == "cpu", bf16=self.bf16,
            gradient_checkpointing=self.gradient_checkpointing, logging_steps=self.eval_every,
            save_strategy="steps", save_steps=self.eval_every, eval_strategy="steps" if self.eval_dataset else "no",
            eval_steps=self.eval_every if self.eval_dataset else None, report_to=[], disable_tqdm=not progress, lr_scheduler_type="constant",
            loss_type=["ipo" if self.loss == "ipo" else "sigmoid"], vpo_sign=self.sign,
            vpo_alpha_scale=self.alpha_scale if self.loss == "vpo" else None,
            vpo_calibration=self.calibration if self.loss == "vpo" else "chosen",
            vpo_cal_normalization=self.cal_normalization)


def train_on_dataset(config: DatasetConfig, *, progress: bool = True) -> dict:
    """Offline VPO / DPO / IPO on a user's local model and data through ``VPOTrainer`` (no exact evaluation: r* is
    unknown). Checkpoints every ``eval_every`` steps in ``out_dir`` (a rerun resumes from the last one); the trained
    model (LoRA: the adapters) and tokenizer are saved to ``out_dir/final``. Returns {"history", "final", "model",
    "rows", "rows_dropped"}."""
    from transformers.trainer_utils import get_last_checkpoint

    from .data import load_preference_dataset
    from .models import load_local_model
    from .trainers import VPOTrainer

    required = ("prompt", "chosen", "rejected") + (("calibration",) if config.calibration == "column" else ())
    train = load_preference_dataset(config.dataset, field="dataset", required=required)
    evaluation = load_preference_dataset(config.eval_dataset, field="eval_dataset", required=required) \
        if config.eval_dataset else None
    model, tokenizer = load_local_model(config.model)
    if tokenizer.pad_token is None:  # TRL pads with the pad token; many causal LMs ship none
        tokenizer.pad_token = tokenizer.eos_token
    peft_config = None
    if config.lora_r:
        from peft import LoraConfig

        peft_config = LoraConfig(r=config.lora_r, lora_alpha=2 * config.lora_r, target_modules="all-linear",
                                 task_type="CAUSAL_LM")
    out = config.out_dir or str(Path(".") / "runs" / "llm-offline-local")
    trainer = VPOTrainer(model=model, args=config.trainer_config(out, progress=progress), train_dataset=train, eval_dataset=evaluation,
                         processing_class=tokenizer, peft_config=peft_config)
    checkpoint = get_last_checkpoint(out) if config.resume and Path(out).is_dir() else None
    trainer.train(resume_from_checkpoint=checkpoint)
    trainer.save_model(str(Path(out) / "final"))
    tokenizer.save_pretrained(str(Path(out) / "final"))
    history = [{"step": row["step"], **{k: v for k, v in row.items() if k != "step"}}
               for row in trainer.state.log_history if "loss" in row or "eval_loss" in row]
    return {"history": history, "final": history[-1] if history else {"step": trainer.state.global_step},
            "model": trainer.model, "rows": len(train), "rows_dropped": len(train) - len(trainer.train_dataset)}

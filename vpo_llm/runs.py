"""The LLM experiments, each through ``VPOTrainer`` / ``OnlineVPOTrainer``  (theory §5, §6, §9): one training stack.

- ``train_offline(OfflineConfig)``: offline preference training — on the built-in task (N pairs from π_ref with
  Bradley–Terry labels from r⋆, exact J, KL and SubOpt by enumeration every ``eval_every`` steps), or a local model on
  a local JSONL data set (TRL's layout, checked line by line, memory-mapped);
- ``train_online(OnlineConfig)``: Algorithm 1 — on the built-in task (exact SubOpt of each round's π_t: the regret),
  or a local model with a local reward model or any judge.

Checkpoints are TRL's (``out_dir/checkpoint-N``; a rerun resumes from the last) or ``OnlineVPOTrainer``'s (a rerun
continues from the last finished round); ``vpo llm offline|online`` calls these and writes ``out_dir/result.json``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch
from transformers import TrainerCallback

import vpo_theory as vt

from .configs import OfflineConfig, OnlineConfig
from .task_trainers import (ExactEvaluation, TaskTextOracle, exact_history, prompt_text, response_text, task_setup)

__all__ = ["train_offline", "train_online", "NonFiniteGuard"]


class NonFiniteGuard(TrainerCallback):
    """Stops a run whose logged loss or gradient norm is not finite, naming the step: the last checkpoint, written
    before, stays intact, and nothing trains on after a NaN."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        for key in ("loss", "grad_norm", "loss/cal"):
            value = (logs or {}).get(key)
            if value is not None and not np.isfinite(float(value)):
                raise FloatingPointError(f"non-finite {key} ({value}) at step {state.global_step}; the last "
                                         f"checkpoint is intact — lower learning_rate or check the inputs")


def _trl_fields(config, out: str, *, steps: int, every: int) -> dict:
    """The TRL fields every run shares: sizes, optimizer, precision, logging and checkpoints."""
    return {"output_dir": out, "max_steps": steps, "per_device_train_batch_size": config.micro_batch,
            "per_device_eval_batch_size": config.micro_batch, "gradient_accumulation_steps": config.grad_accumulation,
            "learning_rate": config.lr, "lr_scheduler_type": "constant", "weight_decay": config.weight_decay,
            "seed": config.seed, "use_cpu": config.device == "cpu", "bf16": getattr(config, "bf16", False),
            "report_to": [], "logging_steps": every, "disable_tqdm": not config.progress,
            "save_strategy": "steps" if config.out_dir else "no", "save_steps": every}


def _term(config):
    """The run's VPO term: the config's, with the weight off for DPO and IPO."""
    return config.term if config.loss == "vpo" else config.term.replace(alpha=0.0)


def quiet(progress: bool) -> None:
    """Without progress bars, the libraries' bars off too (``datasets``' map and cache bars, TRL's reference pass),
    and their notices below errors (transformers' and TRL's warnings about their own deprecations)."""
    if not progress:
        import os
        import warnings

        import datasets
        import transformers

        datasets.disable_progress_bars()
        os.environ["TQDM_DISABLE"] = "1"  # TRL's reference-log-prob pass reads it
        transformers.logging.set_verbosity_error()
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|trl)(\.|$)")


def last_complete_checkpoint(folder: str | Path) -> str | None:
    """The newest ``checkpoint-N`` in ``folder`` that was written to the end: the Trainer writes its state file
    (``trainer_state.json``) last, so a run killed while saving leaves a folder without it, which is passed over."""
    from transformers.trainer import TRAINER_STATE_NAME
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

    steps = {int(path.name.rsplit("-", 1)[1]): path for path in Path(folder).glob(f"{PREFIX_CHECKPOINT_DIR}-*")
             if path.is_dir() and path.name.rsplit("-", 1)[1].isdigit() and (path / TRAINER_STATE_NAME).is_file()}
    return str(steps[max(steps)]) if steps else None


def _shared_temporary_folder(prefix: str) -> str:
    """A new temporary folder, the same for every process of a distributed run: the trainers' processes exchange
    files through their output folder. The processes cannot talk yet (the trainer sets up the process group), so
    the name comes from the launcher's run id (torchrun and ``accelerate launch`` set ``TORCHELASTIC_RUN_ID``)."""
    import os

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return tempfile.mkdtemp(prefix=prefix)
    run_id = os.environ.get("TORCHELASTIC_RUN_ID")
    if not run_id:
        raise ValueError("`out_dir` is empty in a distributed run whose launcher sets no TORCHELASTIC_RUN_ID: the "
                         "processes need one shared run folder; pass out_dir (a folder every process can reach)")
    folder = Path(tempfile.gettempdir()) / f"{prefix}{run_id}"
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder)


def train_offline(config: OfflineConfig) -> dict:
    """Offline VPO / DPO / IPO through ``VPOTrainer`` (see the module docstring). Returns {"history", "final",
    "model"} and, on the built-in task, "pi_ref", "policy"; with a local model "rows", "rows_dropped"."""
    quiet(config.progress)
    from .trainers import VPOConfig, VPOTrainer

    out = config.out_dir or _shared_temporary_folder("vpo-offline-")
    fields = _trl_fields(config, out, steps=config.steps, every=config.eval_every) | {
        "loss_type": ["ipo" if config.loss == "ipo" else "sigmoid"]}
    if config.local:
        run = _local_offline(config, fields)
    else:
        run = _task_offline(config, fields)
    trainer = VPOTrainer(model=run["model"], ref_model=run.get("reference"), args=VPOConfig.from_term(
        _term(config), **fields, **run["fields"]), train_dataset=run["train"], eval_dataset=run.get("eval"),
        processing_class=run["tokenizer"], peft_config=run.get("peft_config"))
    if "task" in run:
        trainer.add_callback(ExactEvaluation(run["task"], run["pi_ref"], config.eval_every,
                                             Path(out) if config.out_dir else None))
    checkpoint = last_complete_checkpoint(out) if config.resume and config.out_dir and Path(out).is_dir() else None
    trainer.add_callback(NonFiniteGuard())
    trainer.train(resume_from_checkpoint=checkpoint)
    if "task" in run:
        history = exact_history(trainer.state.log_history)
        return {"history": history, "final": history[-1], "pi_ref": run["pi_ref"], "model": trainer.model,
                "policy": run["task"].policy_table(trainer.model), "log": trainer.state.log_history}
    trainer.save_model(str(Path(out) / "final"))
    run["tokenizer"].save_pretrained(str(Path(out) / "final"))
    history = [row for row in trainer.state.log_history if "loss" in row or "eval_loss" in row]
    return {"history": history, "final": history[-1] if history else {"step": trainer.state.global_step},
            "model": trainer.model, "rows": len(run["train"]), "rows_dropped": len(run["train"]) -
            len(trainer.train_dataset)}


def _task_offline(config: OfflineConfig, fields: dict) -> dict:
    """The built-in task's run: N pairs from π_ref (theory §7) as TRL rows, the adapted model and its reference."""
    import datasets

    task, tokenizer, model, reference, pi_ref = task_setup(config)
    instance = task.bandit_instance(pi_ref)
    data = vt.sample_preferences(np.random.default_rng(config.seed), instance.rho, pi_ref, instance.reward,
                                 config.num_pairs)
    x, winner, loser = data.astuple()
    rows = {"prompt": [prompt_text(task, i) for i in x], "chosen": [response_text(task, y) for y in winner],
            "rejected": [response_text(task, y) for y in loser]}
    return {"task": task, "tokenizer": tokenizer, "model": model, "reference": reference, "pi_ref": pi_ref,
            "train": datasets.Dataset.from_dict(rows),
            "fields": {"beta": config.beta_for(task.config.beta), "vpo_completion_eos": False,
                       "vpo_reference_max_new_tokens": config.task.response_length}}


def _local_offline(config: OfflineConfig, fields: dict) -> dict:
    """A local model and data set: checked, memory-mapped, LoRA when asked."""
    from .data import load_preference_dataset
    from .models import load_local_model

    required = ("prompt", "chosen", "rejected") + (("calibration",) if config.term.calibration == "column" else ())
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
    return {"tokenizer": tokenizer, "model": model, "train": train, "eval": evaluation, "peft_config": peft_config,
            "fields": {"beta": config.beta_for(0.0), "max_length": config.max_length,
                       "gradient_checkpointing": config.gradient_checkpointing,
                       "eval_strategy": "steps" if config.eval_dataset else "no",
                       "eval_steps": config.eval_every if config.eval_dataset else None}}


def train_online(config: OnlineConfig, *, oracle=None, prompts=None) -> dict:
    """Algorithm 1 (theory §6) through ``OnlineVPOTrainer``. ``oracle``: a judge (``vpo_llm.oracles``, a callable
    ``judge(prompts, first, second)``, or a pairwise judge object); None → Bradley–Terry on the task's r⋆ (built-in
    task) or the local ``reward_model``. ``prompts``: a local model's prompt rows (else ``config.prompts``).
    Returns {"history": one row per round, "final", "model", "pairs"} and, on the built-in task, "regret"."""
    from .online_trainers import OnlineVPOConfig, OnlineVPOTrainer

    quiet(config.progress)
    out = config.out_dir or _shared_temporary_folder("vpo-online-")
    fields = _trl_fields(config, out, steps=config.steps_per_iteration, every=1) | {"save_strategy": "no"}
    term = _term(config)
    online = {"online_iterations": config.iterations, "online_prompts_per_iteration": config.prompts_per_iteration,
              "online_steps_per_iteration": config.steps_per_iteration, "online_scheme": config.scheme,
              "online_samples_per_prompt": config.samples_per_prompt, "online_pair_selection": config.pair_selection,
              "online_accumulate": config.accumulate, "online_pool_size": config.ref_samples_per_prompt,
              "online_temperature": config.temperature, "online_top_p": config.top_p}
    if not config.resume and (Path(out) / "online_state.json").exists():
        raise ValueError(f"`out_dir` {out} holds a run and `resume` is off: pass another out_dir or resume=True")
    if config.model:
        model, tokenizer, texts, judge, evaluate, task = _local_online(config, oracle, prompts)
        reference, beta, extra = None, config.beta_for(0.0), {"online_max_new_tokens": config.max_new_tokens or 32}
    else:
        task, tokenizer, model, reference, pi_ref = task_setup(config, target=config.reference_target)
        texts = [prompt_text(task, x) for x in range(task.config.num_prompts)]
        judge = oracle if oracle is not None else TaskTextOracle(task, sample=config.oracle_sample)
        evaluate = lambda policy: task.evaluate(policy, pi_ref)  # noqa: E731  exact metrics of π_t
        beta = config.beta_for(task.config.beta)
        extra = {"online_max_new_tokens": config.task.response_length, "vpo_completion_eos": False,
                 "vpo_reference_max_new_tokens": config.task.response_length}
    args = OnlineVPOConfig(**term.trainer_fields(), **fields, **online, **extra, beta=beta)
    trainer = OnlineVPOTrainer(model, ref_model=reference, args=args, prompts=texts, processing_class=tokenizer,
                               judge=judge, evaluate=evaluate)
    history = trainer.train()
    result = {"history": history, "model": trainer.model, "pairs": trainer.pairs, "final": history[-1]}
    if task is not None:
        result["final"] = {"iteration": config.iterations + 1, **evaluate(trainer.model)}
        result["regret"] = np.cumsum([row["suboptimality"] for row in history]).tolist()
    return result


def _local_online(config: OnlineConfig, oracle, prompts):
    """(model, tokenizer, prompt texts, judge, no evaluation, no task) for a local model."""
    from .data import load_prompts
    from .models import load_local_model
    from .oracles import RewardModelOracle

    texts = load_prompts(config.prompts if prompts is None else prompts)
    if oracle is None:
        if not config.reward_model:
            raise ValueError("a local model needs a preference oracle: `reward_model` (a local folder) or "
                             "train_online(..., oracle=judge)")
        oracle = RewardModelOracle(config.reward_model, sample=config.oracle_sample, device=config.device)
    model, tokenizer = load_local_model(config.model, dtype={"float32": torch.float32,
                                                             "float64": torch.float64}[config.dtype])
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer, texts, oracle, None, None

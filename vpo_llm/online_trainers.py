"""Online VPO on TRL: ``OnlineVPOConfig`` / ``OnlineVPOTrainer`` — Algorithm 1 of theory §6 for a user's model.

For t = 1..T: draw prompts; generate y¹ ~ π_t and y² from the prompt's cached π_ref pool (``policy-ref``, the
XPO-like scheme) or y² ~ π_t (``policy-policy``); label each pair with a judge (any callable
``judge(prompts, first, second) -> bools``, a ``RewardModelOracle``, or a TRL pairwise judge); append the pairs to
the buffer D_t = D_{t−1} ∪ new (or keep the fresh ones only); then fit the round with ``VPOTrainer`` on D_t —
s = +1, a_t = c/√N_t, π_cal = π_ref through the cached pools (each pair's ``calibration`` is another draw from its
prompt's pool). The reference is frozen, so the pools and their log π_ref are generated once.

Why on ``VPOTrainer`` and not TRL's online DPO trainer (``trl.experimental.online_dpo``): that trainer generates a
fresh batch inside every optimizer step and trains on it alone, so Algorithm 1's data step — training on every pair
gathered so far — has no place in it, nor do π_ref pools for y². A round here is an ordinary ``VPOTrainer`` fit on
the buffer, so everything DPOTrainer supports (LoRA, bf16, gradient checkpointing, ``report_to``) holds online too.

Resume: after each round ``output_dir`` holds ``pairs.jsonl`` (every pair so far, TRL's layout: prompt / chosen /
rejected / calibration), ``online_state.json`` (the round, the history, the pools) and ``policy.pt``; a trainer built
on the same ``output_dir`` continues from the last finished round.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import numpy as np
import torch
from accelerate.utils import is_peft_model

from vpo_theory.records import atomic_write_json, atomic_write_text

from .environments import HFEnvironment
from .oracles import as_oracle
from .trainers import VPOConfig, VPOTrainer
from .training import SEED_STRIDE, atomic_torch_save

__all__ = ["OnlineVPOConfig", "OnlineVPOTrainer", "SCHEMES", "train_online_local"]

#: β for a local model when none is given: the common DPO default (TRL's DPOConfig uses 0.1 too).
LOCAL_MODEL_BETA = 0.1

#: How y² is drawn: from the prompt's cached π_ref pool, or from the current policy.
SCHEMES = ("policy-ref", "policy-policy")


@dataclass
class OnlineVPOConfig(VPOConfig):
    """``VPOConfig`` for online rounds: optimism by default (s = +1, a_t = c/√N_t, π_cal = π_ref) and Algorithm 1's
    sizes. ``max_steps`` is ignored: each round takes ``online_steps_per_iteration`` optimizer steps."""

    vpo_sign: int = field(default=1, metadata={"help": "VPO's sign s: +1 optimism (online, theory §6)"})
    vpo_alpha_scale: float | None = field(default=0.1, metadata={
        "help": "a_t = c/√N_t for N_t training pairs (sum-form α_t = c·√N_t, theory §6); 0.1 as in the llm-online "
                "experiment; None to use vpo_alpha instead"})
    vpo_calibration: str = field(default="reference", metadata={
        "help": "π_cal: 'reference' (π_ref, through each prompt's cached pool: theory §6), 'chosen' or 'behavior'"})
    online_iterations: int = field(default=10, metadata={"help": "T: rounds of generate → label → train"})
    online_prompts_per_iteration: int = field(default=16, metadata={"help": "new pairs per round"})
    online_steps_per_iteration: int = field(default=10, metadata={"help": "optimizer steps of each round's fit"})
    online_scheme: str = field(default="policy-ref", metadata={
        "help": "'policy-ref' (y¹ ~ π_t, y² from the π_ref pool) or 'policy-policy' (both ~ π_t)"})
    online_accumulate: bool = field(default=True, metadata={
        "help": "train on every pair so far (D_t = D_{t−1} ∪ new, Algorithm 1) or on the fresh pairs only"})
    online_pool_size: int = field(default=4, metadata={"help": "π_ref samples cached per prompt (generated once)"})
    online_max_new_tokens: int = field(default=64, metadata={"help": "most tokens of a generated response"})
    online_temperature: float = field(default=1.0, metadata={"help": "sampling temperature of π_t (π_ref: 1)"})
    online_top_p: float = field(default=1.0, metadata={"help": "nucleus sampling of π_t (1 = off; π_ref: off)"})

    def __post_init__(self):
        super().__post_init__()
        for name in ("online_iterations", "online_prompts_per_iteration", "online_steps_per_iteration",
                     "online_pool_size", "online_max_new_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be an integer >= 1, got {value!r}")
        if self.online_scheme not in SCHEMES:
            raise ValueError(f"`online_scheme` must be one of {SCHEMES}, got {self.online_scheme!r}")
        if self.vpo_calibration == "column":
            raise ValueError("`vpo_calibration='column'` has no column online; choose 'reference', 'chosen' or "
                             "'behavior'")
        if not (self.online_temperature > 0):
            raise ValueError(f"`online_temperature` must be > 0, got {self.online_temperature!r}")
        if not (0 < self.online_top_p <= 1):
            raise ValueError(f"`online_top_p` must be in (0, 1], got {self.online_top_p!r}")
        if self.online_pool_size < 2 and self.online_scheme == "policy-ref" and self.vpo_calibration == "reference":
            raise ValueError("`online_pool_size` must be >= 2 with policy-ref and calibration 'reference': y² and "
                             "the calibration sample are distinct pool draws")


class OnlineVPOTrainer:
    """Algorithm 1 (theory §6) on ``VPOTrainer``; see the module docstring.

    model: a causal LM (a ``PreTrainedModel``; with ``peft_config`` its LoRA adapters train and the base model is
    π_ref); ref_model: the frozen π_ref (None: a copy of ``model`` as given, or the base model under LoRA);
    prompts: texts, or a ``datasets.Dataset`` / rows with a ``prompt`` text; judge: see the module docstring;
    evaluate: optional ``evaluate(model) -> dict`` of π_t at the start of round t, before it collects the round's
    pairs (e.g. exact SubOpt on a known task: their sum is the regret).
    """

    def __init__(self, model, *, args: OnlineVPOConfig, prompts, judge, processing_class, ref_model=None,
                 peft_config=None, evaluate=None):
        if not isinstance(args, OnlineVPOConfig):
            raise TypeError(f"`args` must be an OnlineVPOConfig, got {type(args).__name__}")

        self.args, self.tokenizer, self.evaluate = args, processing_class, evaluate
        self.judge = _pairwise(judge)
        texts = [p if isinstance(p, str) else p.get("prompt") for p in prompts]
        bad = next((i for i, p in enumerate(texts) if not isinstance(p, str) or not p), None)
        if bad is not None:
            raise ValueError(f"`prompts`: item {bad} has no prompt text; pass texts or rows with a 'prompt' text")
        if peft_config is not None:
            from peft import get_peft_model

            model = get_peft_model(model, peft_config)
        self.model = model
        self.ref_model = ref_model if ref_model is not None or is_peft_model(model) else \
            copy.deepcopy(model).eval().requires_grad_(False)
        self.environment = HFEnvironment(processing_class, texts, max_new_tokens=args.online_max_new_tokens)
        self.out = Path(args.output_dir)
        self.round, self.history, self.pairs, self.pools = 0, [], [], {}
        self._resume()

    # -- one round --------------------------------------------------------------------------------------------------
    def train(self) -> list[dict]:
        """Run the remaining rounds; returns the history (one row per round)."""
        while self.round < self.args.online_iterations:
            self.round += 1
            row = {"iteration": self.round} | (self.evaluate(self.model) if self.evaluate is not None else {})  # π_t
            fresh = self._collect(self.round)
            self.pairs += fresh
            training = self.pairs if self.args.online_accumulate else fresh
            row |= {"pairs": len(training),
                    "labels/first_preferred": float(np.mean([p["first_preferred"] for p in fresh]))}
            row |= self._fit(training, self.round)
            self.history.append(row)
            self._save()
        return self.history

    def _collect(self, t: int) -> list[dict]:
        """The round's pairs: prompts x ~ uniform, y¹ ~ π_t, y² by the scheme, labels from the judge."""
        args, environment = self.args, self.environment
        rng = np.random.default_rng(args.seed * SEED_STRIDE + t)
        prompts = torch.as_tensor(rng.integers(environment.num_prompts, size=args.online_prompts_per_iteration))
        policy = self.model
        first = environment.sample(policy, prompts, temperature=args.online_temperature, top_p=args.online_top_p,
                                   seed=args.seed * SEED_STRIDE + 2 * t)
        texts, first_texts = [environment.prompt_texts[x] for x in prompts.tolist()], self._completions(prompts, first)
        draws = [rng.choice(args.online_pool_size, size=2, replace=False) if args.online_pool_size > 1
                 else np.zeros(2, dtype=int) for _ in range(len(prompts))]
        if args.online_scheme == "policy-policy":
            second = environment.sample(policy, prompts, temperature=args.online_temperature, top_p=args.online_top_p,
                                        seed=args.seed * SEED_STRIDE + 2 * t + 1)
            second_texts = self._completions(prompts, second)
        else:
            second_texts = [self._pool(int(x))[int(d[0])] for x, d in zip(prompts, draws)]
        wins = self.judge(texts, first_texts, second_texts, rng)
        rows = []
        for i, x in enumerate(prompts.tolist()):
            chosen, rejected = (first_texts[i], second_texts[i]) if wins[i] else (second_texts[i], first_texts[i])
            row = {"prompt": texts[i], "chosen": chosen, "rejected": rejected, "first_preferred": bool(wins[i])}
            if args.vpo_calibration == "reference":  # π_cal = π_ref: another draw from the prompt's pool
                row["calibration"] = self._pool(x)[int(draws[i][-1])]
            rows.append(row)
        return rows

    def _fit(self, pairs: list[dict], t: int) -> dict:
        """One round of Algorithm 1: ``VPOTrainer`` on the training pairs, warm-started at π_t."""
        columns = ["prompt", "chosen", "rejected"] + (["calibration"] if "calibration" in pairs[0] else [])
        data = datasets.Dataset.from_dict({c: [p[c] for p in pairs] for c in columns})
        calibration = "column" if self.args.vpo_calibration == "reference" else self.args.vpo_calibration
        shared = {f.name: getattr(self.args, f.name) for f in dataclasses.fields(VPOConfig) if f.init}
        round_args = VPOConfig(**shared | {  # the round: a plain VPOConfig (π_ref's pool draws are its column)
            "output_dir": str(self.out / "rounds"), "max_steps": self.args.online_steps_per_iteration,
            "save_strategy": "no", "seed": self.args.seed + t, "vpo_calibration": calibration})
        trainer = VPOTrainer(model=self.model, ref_model=self.ref_model, args=round_args, train_dataset=data,
                             processing_class=self.tokenizer)
        trainer.train()
        self.model = trainer.model
        logged = [row for row in trainer.state.log_history if "loss" in row]
        last = logged[-1] if logged else {}
        return {key: last[key] for key in ("loss", "loss/dpo", "loss/cal", "rewards/margins") if key in last} | {
            "alpha": trainer.vpo_alpha}

    # -- π_ref pools, judges, state ---------------------------------------------------------------------------------
    def _pool(self, prompt: int) -> list[str]:
        """The prompt's cached π_ref samples (texts), generated on first use with a seed fixed by the prompt."""
        if prompt not in self.pools:
            reference = self.ref_model
            if reference is None:  # LoRA: the base model with its adapters off
                reference = self.model
            context = reference.disable_adapter() if is_peft_model(reference) else contextlib.nullcontext()
            with context:
                samples = self.environment.sample(reference, torch.full((self.args.online_pool_size,), prompt),
                                                  temperature=1.0, top_p=1.0,
                                                  seed=self.args.seed * SEED_STRIDE + SEED_STRIDE // 2 + prompt)
            self.pools[prompt] = self._completions(torch.full((len(samples),), prompt), samples)
        return self.pools[prompt]

    def _completions(self, prompts: torch.Tensor, responses: list[torch.Tensor]) -> list[str]:
        """Completion texts that TRL's ``prompt + completion`` tokenizes back to the generated ids: the decoded
        prompt ⊕ response, less the decoded prompt (keeps the separator a tokenizer puts between them)."""
        texts = []
        for x, response in zip(prompts.tolist(), responses):
            prompt_ids = self.environment.prompt_ids[x].tolist()
            prompt_text = self.tokenizer.decode(prompt_ids, skip_special_tokens=True)
            full = self.tokenizer.decode(prompt_ids + response.tolist(), skip_special_tokens=True)
            texts.append(full[len(prompt_text):] if full.startswith(prompt_text)
                         else self.tokenizer.decode(response.tolist(), skip_special_tokens=True))
        return texts

    def _save(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        atomic_torch_save(self.model.state_dict(), self.out / "policy.pt")
        atomic_write_text(self.out / "pairs.jsonl", "".join(json.dumps(p) + "\n" for p in self.pairs))
        atomic_write_json(self.out / "online_state.json", {
            "round": self.round, "history": self.history, "pools": {str(k): v for k, v in self.pools.items()},
            "config": {k: v for k, v in self.args.to_dict().items() if k.startswith(("vpo_", "online_", "beta"))}})

    def _resume(self) -> None:
        state_file = self.out / "online_state.json"
        if not state_file.exists():
            return
        state = json.loads(state_file.read_text())
        self.model.load_state_dict(torch.load(self.out / "policy.pt", map_location="cpu", weights_only=True))
        self.round, self.history = state["round"], state["history"]
        self.pools = {int(k): v for k, v in state["pools"].items()}
        self.pairs = [json.loads(line) for line in (self.out / "pairs.jsonl").read_text().splitlines() if line]

    def save_model(self, folder: str | Path | None = None) -> Path:
        """``save_pretrained`` of the policy (LoRA: the adapters) and the tokenizer, by default in output_dir/final."""
        folder = Path(folder) if folder is not None else self.out / "final"
        self.model.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
        return folder


def _pairwise(judge):
    """A labeler ``(prompts, first, second, rng) -> bools``: a TRL pairwise judge (``.judge(prompts, pairs)`` giving
    the index of the better completion) or anything ``vpo_llm.oracles.as_oracle`` takes."""
    if hasattr(judge, "judge") and not callable(judge):
        def trl_judge(prompts, first, second, rng):
            ranks = judge.judge(list(prompts), [[a, b] for a, b in zip(first, second)])
            return np.asarray([rank == 0 for rank in ranks])

        return trl_judge
    return as_oracle(judge)


def train_online_local(config, *, oracle=None, prompts=None, progress: bool = True) -> dict:
    """``vpo llm online --model``: an ``OnlineConfig`` (``vpo_llm.online``) run by ``OnlineVPOTrainer``.

    The flags map one to one (iterations, prompts/steps per iteration, scheme, accumulate, π_ref pool size,
    sampling, β, α scale, sign, calibration, batch size, learning rate, seed, device, out_dir); a local model takes
    one calibration sample per pair and the sqrt schedule a_t = c/√N_t. The judge: ``oracle``, else the local
    ``reward_model``. Returns {"history", "final", "model", "pairs"}.
    """
    import tempfile

    from .models import load_local_model
    from .oracles import RewardModelOracle
    from .data import load_prompts

    if config.alpha_schedule != "sqrt":
        raise ValueError("`alpha_schedule` must be 'sqrt' with a local `model` (OnlineVPOTrainer: a_t = c/√N_t)")
    if config.skip_nonfinite:
        raise ValueError("`skip_nonfinite` is not available with a local `model` (TRL's Trainer); lower learning_rate")
    texts = load_prompts(config.prompts if prompts is None else prompts)
    if oracle is None:
        if not config.reward_model:
            raise ValueError("a local model needs a preference oracle: `reward_model` (a local folder) or "
                             "train_online(..., oracle=judge)")
        oracle = RewardModelOracle(config.reward_model, sample=config.oracle_sample, device=config.device)
    out = config.out_dir or tempfile.mkdtemp(prefix="vpo-online-")
    if not config.resume and (Path(out) / "online_state.json").exists():
        raise ValueError(f"`out_dir` {out} holds a run and `resume` is off: pass another out_dir or resume=True")
    model, tokenizer = load_local_model(config.model, dtype={"float32": torch.float32,
                                                             "float64": torch.float64}[config.dtype])
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    args = OnlineVPOConfig(
        output_dir=out, beta=config.beta if config.beta is not None else LOCAL_MODEL_BETA,
        vpo_sign=config.sign, vpo_alpha_scale=config.alpha_scale if config.loss == "vpo" else 0.0,
        vpo_calibration={"ref": "reference", "chosen": "chosen"}[config.calibration],
        online_iterations=config.iterations, online_prompts_per_iteration=config.prompts_per_iteration,
        online_steps_per_iteration=config.steps_per_iteration, online_scheme=config.scheme,
        online_accumulate=config.accumulate, online_pool_size=config.ref_samples_per_prompt,
        online_max_new_tokens=config.max_new_tokens or 32, online_temperature=config.temperature,
        online_top_p=config.top_p, per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accumulation, learning_rate=config.learning_rate,
        weight_decay=config.weight_decay, seed=config.seed, use_cpu=config.device == "cpu", bf16=False,
        report_to=[], logging_steps=1, disable_tqdm=not progress)
    trainer = OnlineVPOTrainer(model, args=args, prompts=texts, judge=oracle, processing_class=tokenizer)
    history = trainer.train()
    return {"history": history, "final": history[-1], "model": trainer.model, "pairs": trainer.pairs}

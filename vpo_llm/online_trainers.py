"""Online VPO on TRL: ``OnlineVPOConfig`` / ``OnlineVPOTrainer`` — Algorithm 1 of theory §6 for a user's model.

For t = 1..T: draw prompts; generate N ≥ 2 responses per prompt — from π_t, the last one from the prompt's cached
π_ref pool under ``policy-ref`` (the XPO-like scheme), all from π_t under ``policy-policy``; pick the pair (two at
random, labelled by the judge, or the best and the worst by the judge's ranking); append the pairs to the buffer
D_t = D_{t−1} ∪ new (or keep the fresh ones only); then fit the round with ``VPOTrainer`` on D_t — s = +1,
a_t = c/√N_t, π_cal = π_ref through the cached pools (each pair's ``calibration`` is another draw from its prompt's
pool). The judge: any callable ``judge(prompts, first, second) -> bools``, a ``RewardModelOracle`` (a reward model
with its own tokenizer and chat template), or a pairwise judge object with a ``judge(prompts, pairs)`` method.

The reference is frozen, so its work is done once per pair: each round's new pairs are tokenized by TRL and their
log π_ref (chosen, rejected, calibration) computed when they enter the buffer, which keeps them — TRL's tokenized
columns and the reference log-probabilities — so no earlier pair is tokenized or scored again: a round's reference
rows depend on its new pairs only, not on the buffer's size.

Why on ``VPOTrainer`` and not TRL's online DPO trainer (``trl.experimental.online_dpo``): that trainer generates a
fresh batch inside every optimizer step and trains on it alone, so Algorithm 1's data step — training on every pair
gathered so far — has no place in it, nor do π_ref pools for y². A round here is an ordinary ``VPOTrainer`` fit on
the buffer, so everything DPOTrainer supports (LoRA, bf16, gradient checkpointing, ``report_to``) holds online too.

Resume: after each round ``output_dir`` holds ``pairs.jsonl`` (every pair so far in TRL's layout — prompt / chosen /
rejected / calibration — with its reference log-probabilities; ``vpo llm offline --dataset`` trains on it as it is),
``buffer/`` (each round's tokenized pairs), ``online_state.json`` (the round, the history, the pools) and ``policy.pt``; a
trainer built on the same ``output_dir`` continues from the last finished round.
"""

from __future__ import annotations

import copy
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import torch
from accelerate.utils import is_peft_model

from vpo_theory.records import atomic_write_json, atomic_write_text

from .environments import HFEnvironment
from .fields import at_least, check_fields, help_field, one_of, option, positive, redefault, unit_interval
from .models import atomic_torch_save
from .oracles import as_oracle
from .trainers import VPOConfig, VPOTrainer

__all__ = ["OnlineVPOConfig", "OnlineVPOTrainer", "SCHEMES", "PAIR_SELECTIONS", "SEED_STRIDE"]

#: How y² is drawn: from the prompt's cached π_ref pool, or from the current policy.
SCHEMES = ("policy-ref", "policy-policy")
#: Which two of a prompt's N responses form its pair.
PAIR_SELECTIONS = ("random", "best-worst")
#: Seeds of per-round (and per-prompt) generators are seed·SEED_STRIDE + index: a prime larger than any round count,
#: so no two (seed, index) pairs share a generator and a resumed run draws what it would have drawn.
SEED_STRIDE = 1_000_003
#: The columns the buffer keeps per pair: TRL's tokenized ids and every reference log-probability, computed once.
BUFFER_COLUMNS = ("prompt_ids", "chosen_ids", "rejected_ids", "ref_chosen_logps", "ref_rejected_logps",
                  "calibration_prompt_ids", "calibration_ids", "ref_calibration_logps")


#: OnlineVPOConfig's own rules: a TRL config's field metadata goes to argparse (``HfArgumentParser``), so it holds the
#: help and choices only, and the rules are passed by name.
ONLINE_CHECKS = {"online_iterations": at_least(1), "online_prompts_per_iteration": at_least(1),
                 "online_steps_per_iteration": at_least(1), "online_pool_size": at_least(1),
                 "online_max_new_tokens": at_least(1), "online_samples_per_prompt": at_least(2, "a pair"),
                 "online_scheme": one_of(*SCHEMES), "online_pair_selection": one_of(*PAIR_SELECTIONS),
                 "online_temperature": positive, "online_top_p": unit_interval}


@dataclass
class OnlineVPOConfig(VPOConfig):
    """``VPOConfig`` for online rounds: optimism by default (s = +1, a_t = c/√N_t, π_cal = π_ref) and Algorithm 1's
    sizes. ``max_steps`` is ignored: each round takes ``online_steps_per_iteration`` optimizer steps."""

    vpo_sign: int = redefault(VPOConfig, "vpo_sign", 1)  # optimism online (theory §6)
    vpo_alpha_scale: float = redefault(VPOConfig, "vpo_alpha_scale", 0.1)  # c of the llm-online experiment
    vpo_calibration: str = redefault(VPOConfig, "vpo_calibration", "reference")  # π_cal = π_ref (theory §6)
    precompute_ref_log_probs: bool = redefault(VPOConfig, "precompute_ref_log_probs", True)  # once, entering the buffer
    online_iterations: int = help_field(10, "T: rounds of generate → label → train")
    online_prompts_per_iteration: int = help_field(16, "new pairs per round")
    online_steps_per_iteration: int = help_field(10, "optimizer steps of each round's fit")
    online_scheme: str = option("policy-ref", "'policy-ref' (the last response from the π_ref pool, the others ~ π_t) "
                                              "or 'policy-policy' (all ~ π_t)", choices=SCHEMES)
    online_samples_per_prompt: int = help_field(2, "N ≥ 2 responses per prompt, ranked by the judge for "
                                                   "online_pair_selection (theory §6)")
    online_pair_selection: str = option("random", "'random' (two of the N, labelled by the judge) or 'best-worst' (the "
                                                  "judge's best and worst)", choices=PAIR_SELECTIONS)
    online_accumulate: bool = help_field(True, "train on every pair so far (D_t = D_{t−1} ∪ new, Algorithm 1) or on "
                                               "the fresh pairs only")
    online_pool_size: int = help_field(4, "π_ref samples cached per prompt (generated once)")
    online_max_new_tokens: int = help_field(64, "most tokens of a generated response")
    online_temperature: float = help_field(1.0, "sampling temperature of π_t (π_ref: 1)")
    online_top_p: float = help_field(1.0, "nucleus sampling of π_t, in (0, 1] (1 = off; π_ref: off)")

    def __post_init__(self):
        super().__post_init__()
        check_fields(self, ONLINE_CHECKS)
        if self.vpo_calibration == "column":
            raise ValueError("`vpo_calibration='column'` has no column online; choose 'reference', 'chosen' or "
                             "'behavior'")
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
        self.judge = Judge(judge)
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
        self.round, self.history, self.pairs, self.pools, self.buffer = 0, [], [], {}, None
        self._resume()

    # -- one round --------------------------------------------------------------------------------------------------
    def train(self) -> list[dict]:
        """Run the remaining rounds; returns the history (one row per round)."""
        while self.round < self.args.online_iterations:
            self.round += 1
            row = {"iteration": self.round} | (self.evaluate(self.model) if self.evaluate is not None else {})  # π_t
            start = time.perf_counter()
            fresh = self._collect(self.round)
            row |= {"labels/first_preferred": float(np.mean([p["first_preferred"] for p in fresh]))}
            collected = time.perf_counter()
            row |= self._fit(fresh, self.round)
            row |= {"collect_seconds": collected - start, "fit_seconds": time.perf_counter() - collected}
            self.history.append(row)
            self._save()
        return self.history

    def _collect(self, t: int) -> list[dict]:
        """The round's pairs: prompts x ~ uniform, N responses each (π_t; the last from the π_ref pool under
        policy-ref), the pair chosen among them and labelled by the judge."""
        args, environment = self.args, self.environment
        rng = np.random.default_rng(args.seed * SEED_STRIDE + t)
        prompts = rng.integers(environment.num_prompts, size=args.online_prompts_per_iteration)  # (P,)
        texts = [environment.prompt_texts[x] for x in prompts]
        draws = [rng.choice(args.online_pool_size, size=2, replace=args.online_pool_size < 2) for _ in prompts]
        from_policy = args.online_samples_per_prompt - (args.online_scheme == "policy-ref")
        responses = [self._completions(prompts, environment.sample(
            self.model, torch.as_tensor(prompts), temperature=args.online_temperature, top_p=args.online_top_p,
            seed=args.seed * SEED_STRIDE + args.online_samples_per_prompt * t + k)) for k in range(from_policy)]
        if args.online_scheme == "policy-ref":  # the last candidate: a draw from the prompt's π_ref pool
            responses.append([self._pool(int(x))[int(d[0])] for x, d in zip(prompts, draws)])
        candidates = [list(column) for column in zip(*responses)]  # (P, N) texts
        first, second, wins = select_pairs(self.judge, texts, candidates, args.online_pair_selection, rng)
        rows = []
        for i, x in enumerate(prompts.tolist()):
            chosen, rejected = (first[i], second[i]) if wins[i] else (second[i], first[i])
            row = {"prompt": texts[i], "chosen": chosen, "rejected": rejected, "first_preferred": bool(wins[i])}
            if args.vpo_calibration == "reference":  # π_cal = π_ref: another draw from the prompt's pool
                row["calibration"] = self._pool(x)[int(draws[i][-1])]
            rows.append(row)
        return rows

    def _fit(self, fresh: list[dict], t: int) -> dict:
        """One round of Algorithm 1: the new pairs tokenized and scored by π_ref once (a ``VPOTrainer`` built on
        them), appended to the buffer, then that trainer's fit on the buffer, warm-started at π_t."""
        columns = ["prompt", "chosen", "rejected"] + (["calibration"] if "calibration" in fresh[0] else [])
        data = datasets.Dataset.from_dict({c: [p[c] for p in fresh] for c in columns})
        calibration = "column" if self.args.vpo_calibration == "reference" else self.args.vpo_calibration
        shared = {f.name: getattr(self.args, f.name) for f in VPOConfig.__dataclass_fields__.values() if f.init}
        round_args = VPOConfig(**shared | {  # the round: a plain VPOConfig (π_ref's pool draws are its column)
            "output_dir": str(self.out / "rounds"), "max_steps": self.args.online_steps_per_iteration,
            "save_strategy": "no", "seed": self.args.seed + t, "vpo_calibration": calibration,
            "precompute_ref_log_probs": True})
        trainer = VPOTrainer(model=self.model, ref_model=self.ref_model, args=round_args, train_dataset=data,
                             processing_class=self.tokenizer)
        new = trainer.train_dataset.select_columns([c for c in BUFFER_COLUMNS if c in trainer.train_dataset.column_names])
        for pair, logps in zip(fresh, new.select_columns([c for c in new.column_names if c.startswith("ref_")])):
            pair.update(logps)  # pairs.jsonl carries each pair's reference log-probabilities
        self.pairs += fresh
        self.shard = new  # saved with the round (``_save``)
        self.buffer = new if self.buffer is None or not self.args.online_accumulate else \
            datasets.concatenate_datasets([self.buffer, new])
        trainer.train_dataset = self.buffer
        trainer.vpo_alpha = round_args.vpo_term.mean_weight(len(self.buffer))  # a_t = c/√N_t
        trainer.train()
        self.model = trainer.model
        logged = [row for row in trainer.state.log_history if "loss" in row]
        last = logged[-1] if logged else {}
        return {"pairs": len(self.buffer)} | {key: last[key] for key in ("loss", "loss/dpo", "loss/cal", "rewards/margins")
                                              if key in last} | {"alpha": trainer.vpo_alpha}

    # -- π_ref pools, state -----------------------------------------------------------------------------------------
    def _pool(self, prompt: int) -> list[str]:
        """The prompt's cached π_ref samples (texts), generated on first use with a seed fixed by the prompt."""
        if prompt not in self.pools:
            reference = self.ref_model if self.ref_model is not None else self.model  # LoRA: adapters off below
            context = reference.disable_adapter() if is_peft_model(reference) else _nothing()
            with context:
                samples = self.environment.sample(reference, torch.full((self.args.online_pool_size,), prompt),
                                                  temperature=1.0, top_p=1.0,
                                                  seed=self.args.seed * SEED_STRIDE + SEED_STRIDE // 2 + prompt)
            self.pools[prompt] = self._completions(np.full(len(samples), prompt), samples)
        return self.pools[prompt]

    def _completions(self, prompts, responses: list[torch.Tensor]) -> list[str]:
        """Completion texts that TRL's ``prompt + completion`` tokenizes back to the generated ids: the decoded
        prompt ⊕ response, less the decoded prompt (keeps the separator a tokenizer puts between them)."""
        texts = []
        for x, response in zip(np.asarray(prompts).tolist(), responses):
            prompt_ids = self.environment.prompt_ids[x].tolist()
            prompt_text = self.tokenizer.decode(prompt_ids, skip_special_tokens=True)
            full = self.tokenizer.decode(prompt_ids + response.tolist(), skip_special_tokens=True)
            texts.append(full[len(prompt_text):] if full.startswith(prompt_text)
                         else self.tokenizer.decode(response.tolist(), skip_special_tokens=True))
        return texts

    def _save(self) -> None:
        """The finished round, written by the main process (the others wait: they share the run folder)."""
        from accelerate import PartialState

        state = PartialState()
        if state.is_main_process:
            self._write()
        state.wait_for_everyone()

    def _write(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        atomic_torch_save(self.model.state_dict(), self.out / "policy.pt")
        shard = self.out / "buffer" / f"round-{self.round:06d}"  # the round's new pairs only: writing stays flat
        staging = shard.with_name(f".{shard.name}.tmp")
        shutil.rmtree(staging, ignore_errors=True)
        self.shard.save_to_disk(str(staging))
        shutil.rmtree(shard, ignore_errors=True)
        staging.rename(shard)
        atomic_write_text(self.out / "pairs.jsonl", "".join(json.dumps(_plain(p)) + "\n" for p in self.pairs))
        atomic_write_json(self.out / "online_state.json", {  # written last: it says which round is complete
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
        shards = [self.out / "buffer" / f"round-{t:06d}" for t in range(1, self.round + 1)]
        if not self.args.online_accumulate:
            shards = shards[-1:]
        self.buffer = datasets.concatenate_datasets([datasets.load_from_disk(str(path)) for path in shards])

    def save_model(self, folder: str | Path | None = None) -> Path:
        """``save_pretrained`` of the policy (LoRA: the adapters) and the tokenizer, by default in output_dir/final."""
        folder = Path(folder) if folder is not None else self.out / "final"
        self.model.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
        return folder


class Judge:
    """Who wins a pair, and (when it can say) each response's score: a callable ``judge(prompts, first, second)``, a
    ``vpo_llm.oracles`` oracle (a reward model scores with its own tokenizer and chat template), or a pairwise judge
    object with ``judge(prompts, pairs) -> index of the better completion`` (TRL's judge protocol)."""

    def __init__(self, judge):
        self.scorer = judge if hasattr(judge, "scores") else None
        if hasattr(judge, "judge") and callable(getattr(judge, "judge")) and not callable(judge):
            def pairwise(prompts, first, second, rng):
                ranks = judge.judge(list(prompts), [[a, b] for a, b in zip(first, second)])
                return np.asarray([rank == 0 for rank in ranks])

            self.compare = pairwise
        else:
            self.compare = as_oracle(judge)

    def __call__(self, prompts, first, second, rng) -> np.ndarray:
        """(B,) bool: True where the first response is preferred."""
        return np.asarray(self.compare(prompts, first, second, rng), dtype=bool)

    def ranking_scores(self, prompt: str, candidates: list[str], rng) -> np.ndarray:
        """(N,) a score per candidate: the judge's own scores, or its wins over every other candidate."""
        if self.scorer is not None:
            return np.asarray(self.scorer.scores([prompt] * len(candidates), candidates), dtype=np.float64)
        a, b = np.triu_indices(len(candidates), 1)
        wins = self(np.full(len(a), prompt, dtype=object), [candidates[i] for i in a], [candidates[j] for j in b], rng)
        return np.bincount(np.where(wins, a, b), minlength=len(candidates)).astype(np.float64)


def select_pairs(judge: Judge, prompts: list[str], candidates: list[list[str]], selection: str, rng):
    """(first, second, first wins) per prompt from its N candidates (theory §6, "Best-of-N pairs"):

    - ``random``: two distinct candidates at random (with N = 2 the pair as drawn: π_t's first), labelled by the judge;
    - ``best-worst``: the judge's best and worst by its scores (a reward model's) or by its round-robin wins; the best
      is preferred (ties: the earlier candidate).
    """
    first, second = [], []
    if selection == "random":
        for options in candidates:
            i, j = (0, 1) if len(options) == 2 else sorted(rng.choice(len(options), size=2, replace=False))
            first.append(options[i])
            second.append(options[j])
        return first, second, judge(prompts, first, second, rng)
    for prompt, options in zip(prompts, candidates):
        scores = judge.ranking_scores(prompt, options, rng)
        first.append(options[int(np.argmax(scores))])
        second.append(options[int(np.argmin(scores))])
    return first, second, np.ones(len(first), dtype=bool)


def _plain(pair: dict) -> dict:
    return {key: (float(value) if isinstance(value, (np.floating, float)) else value) for key, value in pair.items()}


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

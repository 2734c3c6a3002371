"""The bandit-to-LLM bridge  (theory §5, I6; theory §9), through ``VPOTrainer``.

A transformer with one-token responses is trained with VPO's loss on a fixed data set through TRL's tokenization,
collator and fused LM head. By (I6) its loss is the reward-space VPO objective, so it must reach the exact tabular
VPO policy that ``vpo_theory.fit_vpo`` computes on the same data: the total-variation distance between the two is
tracked over training. ``optimistic_bound_demo`` shows the bounded class of theory §5 on the same task.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

import vpo_theory as vt

from .configs import BridgeConfig, TaskConfig
from .models import TinyLMConfig, tiny_causal_lm
from .task_trainers import prompt_text, response_text, restrict_to_responses, task_tokenizer
from .tasks import EnumerableTask

__all__ = ["BridgeConfig", "run_bridge", "optimistic_bound_demo"]


def run_bridge(config: BridgeConfig = BridgeConfig()) -> dict:
    """The bridge through ``VPOTrainer`` — what users run: the task's pairs as TRL rows ("p.. p..", " r{y}"), full
    batch, π_cal = ``behavior`` (both responses of each pair); completions carry no EOS (a task response is its
    token) and the head is restricted to the response tokens (``task_trainers``). By (I6) the trainer's loss is the
    reward-space objective with ρ(x) = n_x/N and π_cal(y|x) = m_xy/(2 n_x) (m_xy: the pairs y appears in), whose
    exact minimizer ``fit_vpo`` computes (unique when every response of every prompt was compared); the TV
    distance to it is recorded by a ``TrainerCallback`` every ``eval_every`` steps. Returns {"steps", "tv",
    "exact_policy", "policy"}."""
    import datasets
    from transformers import TrainerCallback

    from .runs import quiet
    from .trainers import VPOConfig, VPOTrainer

    quiet(False)  # a figure's cell: no bars, no library notices

    task = EnumerableTask(TaskConfig(num_prompts=config.num_prompts, response_vocab=config.response_vocab,
                                     response_length=1, seed=config.seed))
    tokenizer = task_tokenizer(task)
    size = TinyLMConfig(vocab_size=len(tokenizer), seed=config.seed)
    model = restrict_to_responses(tiny_causal_lm(size, dtype=torch.float64), task.config.response_vocab)
    reference = copy.deepcopy(model).eval().requires_grad_(False)
    pi_ref = task.policy_table(reference)
    instance = task.bandit_instance(pi_ref)
    N, X, Y = config.num_pairs, task.config.num_prompts, task.num_responses
    alpha = config.term.sum_weight(N)  # α = a·N
    data = vt.sample_preferences(np.random.default_rng(config.seed), instance.rho, pi_ref, instance.reward, N)
    x, winner, loser = data.astuple()
    counts = np.zeros((X, Y))
    np.add.at(counts, (x, winner), 1.0)
    np.add.at(counts, (x, loser), 1.0)  # m_xy: the pairs response y of prompt x appears in
    if np.any(counts == 0):
        raise ValueError("every response of every prompt must be compared for a unique minimizer; raise num_pairs")
    rho = counts.sum(axis=1) / (2 * N)  # (X,) n_x/N, the prompts' share of the pairs
    pi_cal = counts / counts.sum(axis=1, keepdims=True)
    exact = vt.fit_vpo(vt.Problem(pi_ref, rho, task.config.beta), data, alpha=alpha, sign=config.term.sign,
                       pi_cal=pi_cal)
    rows = {"prompt": [prompt_text(task, i) for i in x], "chosen": [response_text(task, y) for y in winner],
            "rejected": [response_text(task, y) for y in loser]}
    args = VPOConfig.from_term(config.term, output_dir=str(Path(tempfile.mkdtemp(prefix="vpo-bridge-"))),
                     beta=task.config.beta, per_device_train_batch_size=N,
                     max_steps=config.steps, learning_rate=config.learning_rate, lr_scheduler_type="cosine", warmup_steps=0,
                     weight_decay=0.0, bf16=False, use_cpu=True, report_to=[], save_strategy="no", logging_steps=10**9,
                     disable_tqdm=True, seed=config.seed, adam_epsilon=1e-12, vpo_completion_eos=False)
    trainer = VPOTrainer(model=model, ref_model=reference, args=args, train_dataset=datasets.Dataset.from_dict(rows),
                         processing_class=tokenizer)
    record = {"steps": [], "tv": []}

    class ExactEvaluation(TrainerCallback):  # exact TV to the tabular VPO policy, by enumeration
        def on_train_begin(self, args, state, control, **kwargs):
            self.record(0)

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step % config.eval_every == 0 or state.global_step == config.steps:
                self.record(state.global_step)

        def record(self, step: int) -> None:
            policy = task.policy_table(trainer.model)
            record["steps"].append(step)
            record["tv"].append(float(0.5 * np.abs(policy - exact.policy).sum(axis=1).max()))

    trainer.add_callback(ExactEvaluation())
    trainer.train()
    return record | {"exact_policy": exact.policy, "policy": task.policy_table(trainer.model), "pi_ref": pi_ref}


def optimistic_bound_demo(*, bound: float | None, steps: Sequence[int], alpha: float = 0.5,
                          seed: int = 0) -> list[dict]:
    """The bounded class of theory §5 on the enumerable task, through ``VPOTrainer``: two prompts, four one-token
    responses, pairs among responses 0–2 only (non-separable, so DPO alone has a finite optimum), s = +1 and
    π_cal = π_ref (one cached sample per pair; response 3 is never compared). Without a bound the loss has no
    minimizer — training sends the probability of sampled responses to 0 and the loss down without end; with
    ``bound`` B it converges, bounded below by −a·B. One run of max(steps) full-batch steps; returns, for each count
    in ``steps``, {"steps": the count, "loss": the full-batch loss after that many steps, "min_probability":
    min_{x,y} π(y|x) then}."""
    import datasets
    from transformers import TrainerCallback

    from .trainers import VPOConfig, VPOTrainer

    counts = [int(count) for count in steps]
    if not counts or min(counts) < 1:
        raise ValueError(f"steps={steps!r}: give one or more positive step counts, e.g. steps=(40, 120)")
    task = EnumerableTask(TaskConfig(num_prompts=2, response_vocab=4, response_length=1, seed=seed))
    tokenizer = task_tokenizer(task)
    model = restrict_to_responses(tiny_causal_lm(TinyLMConfig(vocab_size=len(tokenizer), seed=seed),
                                                 dtype=torch.float64), task.config.response_vocab)
    reference = copy.deepcopy(model).eval().requires_grad_(False)
    pairs = [(x, w, l) for x in range(2) for w, l in [(0, 1), (0, 1), (1, 0), (0, 2), (0, 2), (2, 0), (1, 2), (2, 1)]]
    rows = {"prompt": [prompt_text(task, x) for x, _, _ in pairs], "chosen": [response_text(task, w) for _, w, _ in pairs],
            "rejected": [response_text(task, l) for _, _, l in pairs]}
    args = VPOConfig(output_dir=tempfile.mkdtemp(prefix="vpo-bound-"), beta=0.5, vpo_alpha=alpha, vpo_sign=1,
                     vpo_calibration="reference", vpo_reference_max_new_tokens=1, vpo_reward_bound=bound,
                     per_device_train_batch_size=len(pairs), max_steps=max(counts),
                     learning_rate=3e-2, lr_scheduler_type="constant", bf16=False, use_cpu=True, report_to=[],
                     save_strategy="no", logging_steps=max(counts), disable_tqdm=True, seed=seed,
                     vpo_completion_eos=False)
    trainer = VPOTrainer(model=model, ref_model=reference, args=args, train_dataset=datasets.Dataset.from_dict(rows),
                         processing_class=tokenizer)
    measured: dict[int, dict] = {}

    class _Measure(TrainerCallback):  # the full-batch loss at the wanted step counts, without a second run
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step in counts:
                batch = next(iter(trainer.get_train_dataloader()))  # the full batch
                with torch.no_grad():
                    loss = trainer.compute_loss(trainer.model, batch).item()
                measured[state.global_step] = {"steps": state.global_step, "loss": loss,
                                               "min_probability": float(task.policy_table(trainer.model).min())}

    trainer.add_callback(_Measure())
    trainer.train()
    return [measured[count] for count in counts]

"""The enumerable task through the TRL trainers  (theory §9): what users run, evaluated exactly.

Three adaptations make a TRL trainer's sequence policy the task's policy — the causal LM restricted to the
response tokens at each of the L positions — without changing the trainers:

- a word-level tokenizer whose ids are the task's ("r{i}" response token i, "p{j}" prompt token V + j), so the
  task's pairs become TRL rows of text (``prompt_text``, ``response_text``);
- a frozen bias of ``EXCLUDED_LOGIT_BIAS`` on the LM head's non-response tokens: exp(−10⁴) is exactly 0 in
  floating point, so the full softmax TRL's fused head computes *is* the restricted one;
- ``vpo_completion_eos=False``: a task response has no end token, so the EOS TRL appends is removed.

``train_offline_through_vpotrainer`` and ``train_online_through_vpotrainer`` run ``OfflineConfig`` /
``OnlineConfig`` experiments through ``VPOTrainer`` / ``OnlineVPOTrainer``, with the exact J, KL and SubOpt of
the policy recorded by enumeration (a ``TrainerCallback`` offline; π_t before each round online).
"""

from __future__ import annotations

import copy
import tempfile

import numpy as np
import torch
from transformers import TrainerCallback

import vpo_theory as vt

from .oracles import BradleyTerryOracle
from .tasks import EnumerableTask

__all__ = ["EXCLUDED_LOGIT_BIAS", "task_tokenizer", "restrict_to_responses", "prompt_text", "response_text",
           "response_index", "task_trainer_model", "ExactEvaluation", "TaskTextOracle",
           "train_offline_through_vpotrainer", "train_online_through_vpotrainer"]

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
        model.resize_token_embeddings(len(tokenizer))
    for settings in (model.config, model.generation_config):  # Llama's default ids (bos 1, eos 2) are task tokens
        settings.bos_token_id, settings.eos_token_id = None, tokenizer.eos_token_id
        settings.pad_token_id = tokenizer.pad_token_id
    return restrict_to_responses(model, task.config.response_vocab)


class ExactEvaluation(TrainerCallback):
    """Every ``every`` steps (and at step 0), the exact J(r*, π), E_π r*, KL and SubOpt of the trainer's model by
    enumeration (``EnumerableTask.evaluate``), appended to ``rows``."""

    def __init__(self, task: EnumerableTask, pi_ref: np.ndarray, every: int, rows: list):
        self.task, self.pi_ref, self.every, self.rows = task, pi_ref, every, rows

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.rows.append({"step": 0, **self.task.evaluate(model, self.pi_ref)})

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.every == 0 or state.global_step == state.max_steps:
            self.rows.append({"step": state.global_step, **self.task.evaluate(model, self.pi_ref)})


class TaskTextOracle(BradleyTerryOracle):
    """Bradley–Terry labels from the task's r* for text pairs (prompt and completion texts → indices)."""

    def __init__(self, task: EnumerableTask, *, sample: bool = True):
        super().__init__(task.reward, sample=sample)
        self.task = task
        self.prompt_of = {prompt_text(task, x): x for x in range(task.config.num_prompts)}

    def __call__(self, prompts, first, second, rng: np.random.Generator) -> np.ndarray:
        x = [self.prompt_of[p] for p in prompts]
        return super().__call__(x, [response_index(self.task, t) for t in first],
                                [response_index(self.task, t) for t in second], rng)


def _task_setup(config):
    """(task, tokenizer, model, reference, π_ref) of an OfflineConfig / OnlineConfig on the built-in task."""
    from .training import task_model

    task = EnumerableTask(config.task)
    tokenizer = task_tokenizer(task)
    dtype = {"float32": torch.float32, "float64": torch.float64}[config.dtype]
    model = task_model(task, seed=config.seed, dtype=dtype, device=config.device,
                       steps=config.reference_pretrain_steps, target=getattr(config, "reference_target", "skewed"))
    model = task_trainer_model(model, task, tokenizer)
    reference = copy.deepcopy(model).eval().requires_grad_(False)
    return task, tokenizer, model, reference, task.policy_table(reference)


def train_offline_through_vpotrainer(config, *, progress: bool = True) -> dict:
    """An ``OfflineConfig`` run through ``VPOTrainer``: the same task, reference and N pairs as ``train_offline``;
    π_cal "ref" is one π_ref sample per pair, drawn when the trainer is built. Returns {"history": exact
    evaluations every ``eval_every`` steps, "final", "pi_ref", "policy", "model"}."""
    import datasets

    from .trainers import VPOConfig, VPOTrainer

    task, tokenizer, model, reference, pi_ref = _task_setup(config)
    instance = task.bandit_instance(pi_ref)
    data = vt.sample_preferences(np.random.default_rng(config.seed), instance.rho, pi_ref, instance.reward,
                                 config.num_pairs)
    x, winner, loser = data.astuple()
    rows = {"prompt": [prompt_text(task, i) for i in x], "chosen": [response_text(task, y) for y in winner],
            "rejected": [response_text(task, y) for y in loser]}
    args = VPOConfig(
        output_dir=config.out_dir or tempfile.mkdtemp(prefix="vpo-task-offline-"),
        beta=config.beta if config.beta is not None else config.task.beta,
        loss_type=["ipo" if config.loss == "ipo" else "sigmoid"], vpo_alpha=config.mean_alpha, vpo_sign=config.sign,
        vpo_calibration={"chosen": "chosen", "behavior": "behavior", "ref": "reference"}[config.calibration],
        vpo_cal_normalization=config.cal_normalization, vpo_completion_eos=False,
        vpo_reference_max_new_tokens=config.task.response_length, per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accumulation, max_steps=config.steps,
        learning_rate=config.learning_rate, lr_scheduler_type="constant", weight_decay=config.weight_decay,
        seed=config.seed, bf16=False, use_cpu=config.device == "cpu", report_to=[], save_strategy="no",
        logging_steps=config.eval_every, disable_tqdm=not progress)
    trainer = VPOTrainer(model=model, ref_model=reference, args=args, train_dataset=datasets.Dataset.from_dict(rows),
                         processing_class=tokenizer)
    history: list[dict] = []
    trainer.add_callback(ExactEvaluation(task, pi_ref, config.eval_every, history))
    trainer.train()
    return {"history": history, "final": history[-1], "pi_ref": pi_ref, "policy": task.policy_table(trainer.model),
            "model": trainer.model}


def train_online_through_vpotrainer(config, *, progress: bool = True) -> dict:
    """An ``OnlineConfig`` run on the built-in task through ``OnlineVPOTrainer`` (one calibration sample per pair,
    π_ref pools of ``ref_samples_per_prompt``, Bradley–Terry labels from r*). Returns {"history": one row per
    iteration with the exact metrics of π_t, "final", "regret": cumulative SubOpt(π_t), "model"}."""
    from .online_trainers import OnlineVPOConfig, OnlineVPOTrainer

    task, tokenizer, model, reference, pi_ref = _task_setup(config)
    args = OnlineVPOConfig(
        output_dir=config.out_dir or tempfile.mkdtemp(prefix="vpo-task-online-"),
        beta=config.beta if config.beta is not None else config.task.beta, vpo_sign=config.sign,
        vpo_alpha_scale=config.alpha_scale if config.loss == "vpo" else 0.0,
        vpo_calibration={"ref": "reference", "chosen": "chosen"}[config.calibration], vpo_completion_eos=False,
        online_iterations=config.iterations, online_prompts_per_iteration=config.prompts_per_iteration,
        online_steps_per_iteration=config.steps_per_iteration, online_scheme=config.scheme,
        online_accumulate=config.accumulate, online_pool_size=config.ref_samples_per_prompt,
        online_max_new_tokens=config.task.response_length, online_temperature=config.temperature,
        online_top_p=config.top_p, per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accumulation, learning_rate=config.learning_rate,
        lr_scheduler_type="constant", weight_decay=config.weight_decay, seed=config.seed, bf16=False,
        use_cpu=config.device == "cpu", report_to=[], logging_steps=1, disable_tqdm=not progress)
    texts = [prompt_text(task, x) for x in range(task.config.num_prompts)]
    trainer = OnlineVPOTrainer(model, ref_model=reference, args=args, prompts=texts, processing_class=tokenizer,
                               judge=TaskTextOracle(task, sample=config.oracle_sample),
                               evaluate=lambda policy: task.evaluate(policy, pi_ref))
    history = trainer.train()
    final = {"iteration": config.iterations + 1, **task.evaluate(trainer.model, pi_ref)}
    return {"history": history, "final": final, "regret": np.cumsum([r["suboptimality"] for r in history]).tolist(),
            "model": trainer.model}

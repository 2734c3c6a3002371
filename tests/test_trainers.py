"""VPOTrainer on TRL: α = 0 is DPOTrainer (loss and gradients on the same batch), the VPO term is `vpo_loss`'s,
the bounded class clips it, and a LoRA run changes only the adapters."""

from __future__ import annotations

import numpy as np
import pytest
import torch

datasets = pytest.importorskip("datasets")
trl = pytest.importorskip("trl")
pytest.importorskip("tokenizers")

from vpo_llm import VPOConfig, VPOTrainer  # noqa: E402
from vpo_llm.logprobs import sequence_logps  # noqa: E402
from vpo_llm.losses import vpo_loss  # noqa: E402
from vpo_llm.models import TinyLMConfig, tiny_causal_lm, word_tokenizer  # noqa: E402

ROWS = {"prompt": ["w1 w2", "w3", "w4 w5 w6", "w7"],  # unequal lengths on purpose: the pooling matters
        "chosen": [" w8 w9", " w10", " w11 w12 w13", " w8"],
        "rejected": [" w9", " w10 w11", " w12", " w13 w2 w3"]}


def _setup(tmp_path, config_class, rows=ROWS, **fields):
    tokenizer = word_tokenizer(14)
    model = tiny_causal_lm(TinyLMConfig(vocab_size=len(tokenizer), seed=0)).to(torch.float64)
    reference = tiny_causal_lm(TinyLMConfig(vocab_size=len(tokenizer), seed=1)).to(torch.float64)
    config = config_class(output_dir=str(tmp_path), per_device_train_batch_size=4, report_to=[], use_cpu=True, bf16=False,
                          **fields)
    trainer_class = VPOTrainer if config_class is VPOConfig else trl.DPOTrainer
    trainer = trainer_class(model=model, ref_model=reference, args=config,
                            train_dataset=datasets.Dataset.from_dict(rows), processing_class=tokenizer)
    batch = next(iter(trainer.get_train_dataloader()))  # rows: 4 chosen, then 4 rejected
    return trainer, model, reference, batch


def _summed_logps(model, batch) -> torch.Tensor:
    """(2B,) summed completion log-probs through TRL's fused LM head — the numbers TRL's own DPO loss uses (float64
    tiles, float32 running sums: ~1e-7 relative to a float64 log-softmax), computed here without the trainer. Every
    config here sets bf16=False: TRL's DPOConfig defaults to bf16=True, i.e. CPU autocast to bfloat16 (~1e-3)."""
    completion = batch["completion_mask"]
    labels = batch["input_ids"].masked_fill(completion == 0, -100)
    with torch.no_grad():
        log_probs = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels,
                          use_cache=False, fused_lm_head=True).log_probs
    mask = completion[..., 1:].to(log_probs.dtype)
    return (log_probs[:, -mask.size(1):] * mask).sum(dim=1)


def _loss_and_gradients(trainer, model, batch):
    model.zero_grad()
    loss = trainer.compute_loss(model, batch)
    loss.backward()
    return loss.item(), [p.grad.clone() for p in model.parameters()]


def test_alpha_zero_is_dpo_trainer_exactly(tmp_path):
    vpo, vpo_model, _, batch = _setup(tmp_path / "vpo", VPOConfig, beta=0.2, vpo_alpha=0.0)
    dpo, dpo_model, _, dpo_batch = _setup(tmp_path / "dpo", trl.DPOConfig, beta=0.2)
    assert all(torch.equal(batch[k], dpo_batch[k]) for k in batch if isinstance(batch[k], torch.Tensor))
    vpo_loss_value, vpo_grads = _loss_and_gradients(vpo, vpo_model, batch)
    dpo_loss_value, dpo_grads = _loss_and_gradients(dpo, dpo_model, dpo_batch)
    assert vpo_loss_value == pytest.approx(dpo_loss_value, rel=1e-6, abs=1e-12)
    for ours, theirs in zip(vpo_grads, dpo_grads):
        torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("calibration,normalization,sign", [("chosen", "sum", -1), ("behavior", "sum", +1),
                                                           ("chosen", "token_mean", -1)])
def test_the_vpo_term_is_vpo_loss_on_the_same_batch(tmp_path, calibration, normalization, sign):
    """Independent of the trainer's code: the summed log-probs from the model's forward, the loss from vpo_loss;
    and the trainer's log-probs agree with vpo_llm.sequence_logps (float64) to TRL's fused-head precision."""
    beta, a = 0.3, 0.7
    trainer, model, reference, batch = _setup(tmp_path, VPOConfig, beta=beta, vpo_alpha=a, vpo_sign=sign,
                                              vpo_calibration=calibration, vpo_cal_normalization=normalization)
    loss, _ = _loss_and_gradients(trainer, model, batch)
    ids, attention, completion = batch["input_ids"], batch["attention_mask"], batch["completion_mask"]
    policy_chosen, policy_rejected = _summed_logps(model, batch).chunk(2)
    ref_chosen, ref_rejected = _summed_logps(reference, batch).chunk(2)
    with torch.no_grad():
        exact = sequence_logps(model, ids, attention, completion).to(policy_chosen.dtype)
    torch.testing.assert_close(torch.cat([policy_chosen, policy_rejected]), exact, rtol=1e-6, atol=1e-6)
    lengths = completion.sum(1).to(policy_chosen.dtype)
    if calibration == "chosen":
        policy_cal, ref_cal, counts = policy_chosen, ref_chosen, lengths.chunk(2)[0]
    else:
        policy_cal, ref_cal, counts = (torch.cat([policy_chosen, policy_rejected]),
                                       torch.cat([ref_chosen, ref_rejected]), lengths)
    expected, _ = vpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, policy_cal, ref_cal, beta=beta,
                           alpha=a, sign=sign, cal_token_counts=counts, cal_normalization=normalization)
    assert loss == pytest.approx(expected.item(), rel=1e-6)
    logged = trainer._metrics["train"]
    assert logged["loss/cal"][-1] == pytest.approx(expected.item() - logged["loss/dpo"][-1], rel=1e-6, abs=1e-9)


def test_the_bounded_class_clips_the_optimistic_term(tmp_path):
    """s = +1 with vpo_reward_bound B: the calibration term is s·a·mean clip(β·h̃, −B, B), bounded below by −a·B."""
    beta, a, bound = 0.3, 0.7, 1e-3  # a bound far below the samples' |β·h̃|: every one is clipped
    trainer, model, reference, batch = _setup(tmp_path, VPOConfig, beta=beta, vpo_alpha=a, vpo_sign=+1,
                                              vpo_reward_bound=bound)
    trainer.compute_loss(model, batch)
    implicit = beta * (_summed_logps(model, batch) - _summed_logps(reference, batch)).chunk(2)[0]
    assert torch.all(implicit.abs() > bound)
    expected = a * float(implicit.clamp(-bound, bound).mean())
    assert trainer._metrics["train"]["loss/cal"][-1] == pytest.approx(expected, rel=1e-6)
    assert abs(trainer._metrics["train"]["loss/cal"][-1]) <= a * bound + 1e-15


def test_a_lora_run_changes_only_the_adapters(tmp_path):
    peft = pytest.importorskip("peft")
    tokenizer = word_tokenizer(14)
    model = tiny_causal_lm(TinyLMConfig(vocab_size=len(tokenizer), seed=0))
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    config = VPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=4, report_to=[], use_cpu=True, bf16=False, beta=0.1,
                       vpo_alpha=0.5, max_steps=3, learning_rate=1e-2, save_strategy="no", logging_steps=1)
    lora = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    trainer = VPOTrainer(model=model, args=config, train_dataset=datasets.Dataset.from_dict(ROWS),
                         processing_class=tokenizer, peft_config=lora)
    trainer.train()
    changed_adapters, changed_base = 0, []
    for name, parameter in trainer.model.named_parameters():
        if "lora_" in name:
            changed_adapters += int(not torch.allclose(parameter, torch.zeros_like(parameter)))
            continue
        base_name = name.replace("base_model.model.", "").replace(".base_layer", "")
        if base_name in before and not torch.equal(parameter.detach(), before[base_name]):
            changed_base.append(name)
    assert changed_adapters > 0 and not changed_base
    history = [row for row in trainer.state.log_history if "loss/cal" in row]
    assert history and np.isfinite(history[-1]["loss/cal"])


def test_bad_vpo_fields_are_refused_by_name(tmp_path):
    for fields, name in [({"vpo_sign": 0}, "vpo_sign"), ({"vpo_alpha": -1.0}, "vpo_alpha"),
                         ({"vpo_calibration": "nope"}, "vpo_calibration"), ({"vpo_alpha_scale": -2.0}, "vpo_alpha_scale"),
                         ({"vpo_cal_normalization": "mean"}, "vpo_cal_normalization"),
                         ({"vpo_reward_bound": 0.0}, "vpo_reward_bound")]:
        with pytest.raises(ValueError, match=name):
            VPOConfig(output_dir=str(tmp_path), report_to=[], use_cpu=True, bf16=False, **fields)


def test_swapping_dpo_config_for_vpo_config_trains_vpo_with_the_documented_weight(tmp_path):
    """VPOConfig with nothing VPO-specific set: a = 1/√N (α = √N) on the training set's N pairs, the term is on; the
    term's fields are one VPOTerm, and VPOConfig.from_term is its one map to the config."""
    from vpo_llm import VPOTerm

    trainer, model, _, batch = _setup(tmp_path, VPOConfig, beta=0.3)
    assert trainer.vpo_alpha == pytest.approx(1 / np.sqrt(len(ROWS["prompt"])))
    trainer.compute_loss(model, batch)
    assert trainer._metrics["train"]["loss/cal"][-1] != 0.0
    term = VPOTerm(sign=1, alpha=0.25, calibration="behavior", normalization="token_mean", reward_bound=2.0)
    config = VPOConfig.from_term(term, output_dir=str(tmp_path), report_to=[], use_cpu=True, bf16=False)
    assert config.vpo_term == term and config.vpo_cal_normalization == "token_mean"
    assert VPOTerm(alpha_scale=3.0).mean_weight(9) == pytest.approx(1.0)
    assert VPOTerm(alpha_scale=3.0).sum_weight(9) == pytest.approx(9.0)  # α = a·N = c·√N
    assert VPOTerm(alpha=0.2, alpha_scale=5.0).mean_weight(100) == 0.2  # a, when given, is the weight


def test_every_llm_calibration_is_a_strategy_named_in_the_shared_vocabulary():
    from vpo_theory.calibration import CALIBRATIONS
    from vpo_llm.calibrations import CALIBRATION_STRATEGIES
    from vpo_llm.term import LLM_CALIBRATIONS

    assert set(CALIBRATION_STRATEGIES) == set(LLM_CALIBRATIONS) <= set(CALIBRATIONS)
    with pytest.deprecated_call():
        assert VPOConfig(output_dir="x", report_to=[], use_cpu=True, bf16=False,
                         vpo_calibration="ref").vpo_calibration == "reference"


def test_precomputed_reference_log_probs_give_the_same_loss(tmp_path):
    fields = {"beta": 0.3, "vpo_alpha": 0.7, "vpo_calibration": "behavior"}
    live, model, _, batch = _setup(tmp_path / "live", VPOConfig, **fields)
    cached, cached_model, _, cached_batch = _setup(tmp_path / "cached", VPOConfig, precompute_ref_log_probs=True,
                                                   **fields)
    assert "ref_chosen_logps" in cached_batch
    assert cached.compute_loss(cached_model, cached_batch).item() == pytest.approx(
        live.compute_loss(model, batch).item(), rel=1e-6)


def test_resume_from_checkpoint_continues_the_same_run(tmp_path):
    """TRL's checkpoints carry VPO's run: 4 steps straight equal a run stopped after step 2 (its checkpoint) and
    resumed from it."""
    from transformers import TrainerCallback

    class StopAfterTwo(TrainerCallback):  # an interruption: the run stops once checkpoint-2 is written
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 2:
                control.should_save = control.should_training_stop = True

    def run(folder, steps, resume=None, callbacks=()):
        tokenizer = word_tokenizer(14)
        model = tiny_causal_lm(TinyLMConfig(vocab_size=len(tokenizer), seed=0)).to(torch.float64)
        config = VPOConfig(output_dir=str(folder), per_device_train_batch_size=2, report_to=[], use_cpu=True, bf16=False, beta=0.1,
                           vpo_alpha=0.5, vpo_calibration="behavior", max_steps=steps, learning_rate=1e-2,
                           save_strategy="steps", save_steps=2, logging_steps=1, seed=3)
        trainer = VPOTrainer(model=model, ref_model=tiny_causal_lm(TinyLMConfig(vocab_size=len(tokenizer), seed=1)),
                             args=config, train_dataset=datasets.Dataset.from_dict(ROWS), processing_class=tokenizer,
                             callbacks=list(callbacks))
        trainer.train(resume_from_checkpoint=resume)
        return {name: p.detach().clone() for name, p in trainer.model.named_parameters()}

    straight = run(tmp_path / "straight", 4)
    run(tmp_path / "interrupted", 4, callbacks=[StopAfterTwo()])
    assert (tmp_path / "interrupted" / "checkpoint-2").exists() and not (tmp_path / "interrupted" / "checkpoint-4").exists()
    resumed = run(tmp_path / "interrupted", 4, resume=str(tmp_path / "interrupted" / "checkpoint-2"))
    for name, value in straight.items():
        torch.testing.assert_close(resumed[name], value, rtol=1e-10, atol=1e-12, msg=name)


def _calibration_logps(model, batch) -> torch.Tensor:
    """(B,) summed log-probs of the batch's calibration samples, through the fused LM head, outside the trainer."""
    renamed = {key: batch[f"calibration_{key}"] for key in ("input_ids", "attention_mask", "completion_mask")}
    return _summed_logps(model, renamed)


def test_a_calibration_column_is_tokenized_like_chosen_and_enters_the_term(tmp_path):
    """π_cal = the rows' `calibration` texts: the same ids TRL makes for a `chosen` of that text, log π_ref cached
    at build time, and the term s·a·β·mean(h) on them."""
    beta, a = 0.3, 0.7
    rows = ROWS | {"calibration": [" w3 w3", " w5", " w2 w1 w0", " w9 w9"]}
    trainer, model, reference, batch = _setup(tmp_path, VPOConfig, rows=rows, beta=beta, vpo_alpha=a, vpo_sign=-1,
                                              vpo_calibration="column")
    ref_cal = _calibration_logps(reference, batch)
    torch.testing.assert_close(batch["ref_calibration_logps"].to(ref_cal), ref_cal, rtol=1e-10, atol=1e-10)
    loss = trainer.compute_loss(model, batch).item()
    dpo = trainer._metrics["train"]["loss/dpo"][-1]
    h = _calibration_logps(model, batch) - ref_cal
    assert loss - dpo == pytest.approx(-a * beta * float(h.mean()), rel=1e-6)  # the fused head's float32 running sums
    as_chosen = _setup(tmp_path / "as-chosen", trl.DPOConfig, rows=ROWS | {"chosen": rows["calibration"]})[0]
    assert trainer.train_dataset["calibration_ids"] == as_chosen.train_dataset["chosen_ids"]


@pytest.mark.slow  # ~9 s: 3 000 draws to compare with π_ref's law
def test_reference_samples_are_draws_from_pi_ref_cached_once(tmp_path):
    """calibration `reference`: one-token samples for one prompt repeated 3000 times match π_ref's next-token law
    (TV within sampling noise), their cached log π_ref is the reference's, and a rebuilt trainer draws the same."""
    tokenizer = word_tokenizer(14)
    reference = tiny_causal_lm(TinyLMConfig(vocab_size=len(tokenizer), seed=1)).to(torch.float64)
    rows = {"prompt": ["w1 w2"] * 3000, "chosen": [" w3"] * 3000, "rejected": [" w4"] * 3000}

    def build():
        config = VPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=4, precompute_ref_batch_size=1000,
                           report_to=[], use_cpu=True, bf16=False, vpo_alpha=0.5, vpo_calibration="reference",
                           vpo_reference_max_new_tokens=1)
        return VPOTrainer(model=tiny_causal_lm(TinyLMConfig(vocab_size=len(tokenizer), seed=0)).to(torch.float64),
                          ref_model=reference, args=config, train_dataset=datasets.Dataset.from_dict(rows),
                          processing_class=tokenizer)

    data = build().train_dataset
    tokens = np.array([ids[0] for ids in data["calibration_ids"]])
    prompt = torch.tensor([data["prompt_ids"][0]])
    with torch.no_grad():
        law = torch.softmax(reference(input_ids=prompt).logits[0, -1], dim=-1).numpy()  # (V,)
    empirical = np.bincount(tokens, minlength=law.size) / tokens.size
    assert 0.5 * np.abs(empirical - law).sum() < 0.05  # E[TV] ≈ 0.03 for 3000 draws over 16 tokens
    expected = np.log(law[tokens])
    np.testing.assert_allclose(data["ref_calibration_logps"], expected, rtol=1e-6)  # the fused head's float32 running sums
    assert build().train_dataset["calibration_ids"] == data["calibration_ids"]


def test_the_xpo_setting_has_the_removed_xpo_trainers_gradient(tmp_path):
    """s = +1, π_cal = π_ref (cached samples ỹ), sum pooling: TRL's removed XPOTrainer minimised
    mean(ℓ_DPO + α_XPO·Σ_t log π(ỹ_t)); VPO's term is a·β·mean(log π(ỹ) − log π_ref(ỹ)). With α_XPO = a·β the two
    differ by a constant, so the gradients agree (the XPO loss written here from its formula, not the trainer)."""
    beta, a = 0.2, 0.9
    trainer, model, reference, batch = _setup(tmp_path, VPOConfig, beta=beta, vpo_alpha=a, vpo_sign=+1,
                                              vpo_calibration="reference", vpo_reference_max_new_tokens=3)
    _, vpo_grads = _loss_and_gradients(trainer, model, batch)

    completion = batch["completion_mask"]

    def summed(ids, attention, completion_mask, net):
        logits = net(input_ids=ids, attention_mask=attention).logits[:, :-1]  # (N, T−1, V)
        token = torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None]).squeeze(-1)
        return (token * completion_mask[:, 1:]).sum(1)

    policy = summed(batch["input_ids"], batch["attention_mask"], completion, model)
    with torch.no_grad():
        ref = summed(batch["input_ids"], batch["attention_mask"], completion, reference)
    chosen_ratio, rejected_ratio = (policy - ref).chunk(2)
    dpo_losses = -torch.nn.functional.logsigmoid(beta * (chosen_ratio - rejected_ratio))
    xpo_losses = (a * beta) * summed(batch["calibration_input_ids"], batch["calibration_attention_mask"],
                                     batch["calibration_completion_mask"], model)
    parameters = list(model.parameters())
    dpo_grad = torch.autograd.grad(dpo_losses.mean(), parameters)
    bonus_grad = torch.autograd.grad(xpo_losses.mean(), parameters)
    ours = torch.cat([g.ravel() for g in vpo_grads])
    theirs = torch.cat([(g + h).ravel() for g, h in zip(dpo_grad, bonus_grad)])  # ∇ mean(ℓ_DPO + α_XPO·Σ log π(ỹ))
    bonus_off_by_beta = torch.cat([(g + h / beta).ravel() for g, h in zip(dpo_grad, bonus_grad)])  # α_XPO = a
    error = float((ours - theirs).norm() / theirs.norm())
    assert error < 1e-5  # the fused head's float32 running sums
    assert float((bonus_off_by_beta - theirs).norm() / theirs.norm()) > 100 * error  # the test tells a·β from a


@pytest.mark.slow  # long: the default run keeps a shorter check of the same path
def test_the_bounded_class_gives_the_optimistic_loss_a_minimizer_on_the_task():
    """theory §5 on the enumerable task: unbounded, s = +1 with a never-compared response has no minimizer (the loss
    keeps falling, some response's probability → 0); with B = 0.5 the loss settles above −a·B, every response keeps
    mass."""
    from vpo_llm.bridge import optimistic_bound_demo

    with pytest.raises(ValueError, match="steps=\\(\\)"):
        optimistic_bound_demo(bound=0.5, steps=())
    free = optimistic_bound_demo(bound=None, steps=(40, 120))  # one run, measured after 40 and 120 steps
    bounded = optimistic_bound_demo(bound=0.5, steps=(40, 120))
    assert [row["steps"] for row in free] == [40, 120]
    assert free[1]["loss"] < free[0]["loss"] - 100 and free[1]["min_probability"] < 1e-12
    assert abs(bounded[1]["loss"] - bounded[0]["loss"]) < 0.02 and bounded[1]["loss"] >= -0.5 * 0.5
    assert bounded[1]["min_probability"] > 0.01


def test_completions_without_eos_when_asked(tmp_path):
    """vpo_completion_eos=False: the tokenized completions are TRL's less their trailing EOS, nothing else."""
    with_eos = _setup(tmp_path / "a", VPOConfig, vpo_alpha=0.5)[0].train_dataset
    without = _setup(tmp_path / "b", VPOConfig, vpo_alpha=0.5, vpo_completion_eos=False)[0].train_dataset
    eos = word_tokenizer(14).eos_token_id
    for key in ("chosen_ids", "rejected_ids"):
        assert all(ids[-1] == eos for ids in with_eos[key])
        assert without[key] == [ids[:-1] for ids in with_eos[key]]


def test_conversational_rows_with_a_chat_template_and_gradient_checkpointing(tmp_path):
    """TRL's conversational layout (messages, a chat template) with a calibration column of messages and gradient
    checkpointing on: the trainer tokenizes through the template and takes steps that move the weights."""
    tokenizer = word_tokenizer(14)
    tokenizer.chat_template = ("{% for m in messages %}{{ m['content'] }}{% if not loop.last %} {% endif %}{% endfor %}"
                               "{% if add_generation_prompt %} {% endif %}")
    say = lambda role, text: [{"role": role, "content": text}]  # noqa: E731
    rows = {"prompt": [say("user", "w1 w2"), say("user", "w3")], "chosen": [say("assistant", "w4"), say("assistant", "w5")],
            "rejected": [say("assistant", "w6"), say("assistant", "w7 w8")],
            "calibration": [say("assistant", "w9"), say("assistant", "w10")]}
    model = tiny_causal_lm(TinyLMConfig(vocab_size=len(tokenizer), seed=0)).to(torch.float64)
    before = [p.detach().clone() for p in model.parameters()]
    config = VPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=2, report_to=[], use_cpu=True, bf16=False,
                       vpo_alpha=0.5, vpo_calibration="column", gradient_checkpointing=True, max_steps=2,
                       learning_rate=1e-2, save_strategy="no", logging_steps=1)
    trainer = VPOTrainer(model=model, ref_model=tiny_causal_lm(TinyLMConfig(vocab_size=len(tokenizer), seed=1)),
                         args=config, train_dataset=datasets.Dataset.from_dict(rows), processing_class=tokenizer)
    w = lambda word: tokenizer.convert_tokens_to_ids(word)  # noqa: E731
    assert trainer.train_dataset[0]["prompt_ids"] == [w("w1"), w("w2")]
    assert trainer.train_dataset[0]["calibration_ids"][0] == w("w9")
    trainer.train()
    assert any(not torch.equal(a, b.detach()) for a, b in zip(before, trainer.model.parameters()))
    assert all(np.isfinite(row["loss/cal"]) for row in trainer.state.log_history if "loss/cal" in row)

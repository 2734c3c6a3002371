"""Cross-check with TRL 1.16: offline VPO (s = −1, π_cal = chosen, token_mean) is DPOTrainer's ["sigmoid", "sft"] loss.

TRL's "sft" term is −(Σ over all chosen tokens of log π)/(number of those tokens), pooled over
the batch; ``vpo_loss`` reproduces the pooling with cal_weights = token counts. The two
differ only by VPO's reference term a·β·Σ log π_ref(chosen)/Σ tokens, a constant in π
(theory §5 keeps it so that the loss equals the objective).
"""

from __future__ import annotations

import pytest
import torch

trl = pytest.importorskip("trl")
datasets = pytest.importorskip("datasets")
tokenizers = pytest.importorskip("tokenizers")

from vpo_llm.logprobs import sequence_logps  # noqa: E402
from vpo_llm.losses import vpo_loss  # noqa: E402
from vpo_llm.models import TinyLMConfig, tiny_causal_lm, word_tokenizer  # noqa: E402


def local_tokenizer():
    tokenizer = word_tokenizer(14)
    return tokenizer, len(tokenizer)


@pytest.mark.parametrize("beta,a", [(0.3, 0.7), (0.1, 2.0)])
def test_offline_vpo_with_chosen_calibration_is_trl_dpo_plus_sft(tmp_path, beta, a):
    tokenizer, vocab_size = local_tokenizer()
    data = datasets.Dataset.from_dict({  # unequal lengths on purpose: the pooling matters
        "prompt": ["w1 w2", "w3", "w4 w5 w6", "w7"],
        "chosen": [" w8 w9", " w10", " w11 w12 w13", " w8"],
        "rejected": [" w9", " w10 w11", " w12", " w13 w2 w3"],
    })
    model = tiny_causal_lm(TinyLMConfig(vocab_size=vocab_size, seed=0))
    reference = tiny_causal_lm(TinyLMConfig(vocab_size=vocab_size, seed=1))
    config = trl.DPOConfig(output_dir=str(tmp_path), loss_type=["sigmoid", "sft"], loss_weights=[1.0, a * beta],
                           beta=beta, per_device_train_batch_size=4, report_to=[], use_cpu=True)
    trainer = trl.DPOTrainer(model=model, ref_model=reference, args=config, train_dataset=data,
                             processing_class=tokenizer)
    batch = next(iter(trainer.get_train_dataloader()))  # rows: 4 chosen, then 4 rejected
    trl_loss = trainer.compute_loss(model, batch).item()

    ids, attention, completion = batch["input_ids"], batch["attention_mask"], batch["completion_mask"]
    with torch.no_grad():
        policy_chosen, policy_rejected = sequence_logps(model, ids, attention, completion).chunk(2)
        ref_chosen, ref_rejected = sequence_logps(reference, ids, attention, completion).chunk(2)
    lengths, _ = completion.sum(1).to(torch.float32).chunk(2)
    ours, _ = vpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, policy_chosen, ref_chosen,
                       beta=beta, alpha=a, sign=-1, cal_token_counts=lengths, cal_weights=lengths,
                       cal_normalization="token_mean")
    reference_term = a * beta * (ref_chosen.sum() / lengths.sum()).item()
    assert ours.item() - reference_term == pytest.approx(trl_loss, rel=1e-5, abs=1e-6)

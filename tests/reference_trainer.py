"""A compact, independent offline trainer for the enumerable task, used only by the tests to check ``VPOTrainer``.

Written from theory §5's mean form with plain torch: the task's exact log-probabilities (the LM restricted to the
response tokens, ``EnumerableTask.response_logps``), ``vpo_loss`` on the whole data set (one full batch), and AdamW
steps at a constant learning rate. It shares no code with TRL or the package's trainers, so where the two agree the
trainer's tokenization, collation, fused head and optimizer wiring compute what the theory says.
"""

from __future__ import annotations

import torch

from vpo_llm.losses import vpo_loss


def full_batch_steps(model, reference, task, x, winner, loser, *, beta: float, alpha: float, sign: int, steps: int,
                     learning_rate: float, calibration: str = "behavior") -> dict:
    """``steps`` AdamW steps on the mean-form VPO loss over all pairs (x, winner, loser): the final parameters."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.0, betas=(0.9, 0.999),
                                  eps=1e-8)
    with torch.no_grad():
        ref_chosen = task.response_logps(reference, task.pair_inputs(x, winner))
        ref_rejected = task.response_logps(reference, task.pair_inputs(x, loser))
    for _ in range(steps):
        chosen = task.response_logps(model, task.pair_inputs(x, winner))  # (N,) summed over the L tokens
        rejected = task.response_logps(model, task.pair_inputs(x, loser))
        if calibration == "behavior":  # both responses of each pair
            policy_cal, ref_cal = torch.cat([chosen, rejected]), torch.cat([ref_chosen, ref_rejected])
        else:  # the preferred ones
            policy_cal, ref_cal = chosen, ref_chosen
        loss, _ = vpo_loss(chosen, rejected, ref_chosen, ref_rejected, policy_cal, ref_cal, beta=beta, alpha=alpha,
                           sign=sign)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return {name: p.detach().clone() for name, p in model.named_parameters()}

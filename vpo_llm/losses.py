"""The VPO loss on sequence log-probabilities, and its DPO / IPO relatives  (theory §5).

Pure functions of per-sequence log-probs (B,) — the sum of response-token log-probs — so any
trainer (ours, TRL-style, a user's loop) can call them. Mean form of theory §5:

    L = (1/B) Σ_i −log σ(β[h_i⁺ − h_i⁻]) + s · a · β · Σ_j w_j h̃_j / Σ_j w_j
    h = log π(y|x) − log π_ref(y|x),   h̃_j the same on calibration samples ỹ_j ~ π_cal(·|x_j)

with a = α/N (the mean-form weight; α is the sum-form weight of theory §4 and N the number of
pairs). With B pairs covering a data set D and weights w_j = ρ(x_j)·π_cal(ỹ_j|x_j) over every
response, B·L equals ``vpo_theory.vpo_policy_objective`` with α = a·B exactly (I6).
"""

from __future__ import annotations

import numbers

import torch
import torch.nn.functional as F

__all__ = ["vpo_loss", "dpo_loss", "ipo_loss", "calibration_term"]


def _check_scalar(name: str, value, *, allow_zero: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a real number, got {type(value).__name__}")
    value = float(value)
    if not (value == value and abs(value) != float("inf")):
        raise ValueError(f"`{name}` must be finite, got {value}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"`{name}` must be {'>= 0' if allow_zero else '> 0'}, got {value}")
    return value


def _check_batch(**tensors: torch.Tensor) -> None:
    shapes = {}
    for name, tensor in tensors.items():
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"`{name}` must be a torch.Tensor of per-sequence log-probs, got {type(tensor).__name__}")
        if tensor.ndim != 1:
            raise ValueError(f"`{name}` must have shape (B,) (one summed log-prob per sequence), got {tuple(tensor.shape)}")
        if not tensor.is_floating_point():
            raise TypeError(f"`{name}` must be a floating-point tensor, got {tensor.dtype}")
        # one reduction per input; the caller reads the loss anyway, so this adds no extra device sync
        if not bool(torch.isfinite(tensor.detach()).all()):
            raise ValueError(f"`{name}` holds NaN or ±inf log-probs; a response with a zero-probability token "
                             f"(log π = −inf) or an overflow upstream — fix the inputs rather than the loss")
        shapes[name] = tensor.shape[0]
    if len(set(shapes.values())) > 1:
        raise ValueError(f"batch sizes differ: {shapes}; chosen, rejected and their reference log-probs must align")
    if next(iter(shapes.values())) == 0:
        raise ValueError("the batch is empty; pass at least one preference pair")


def _pair_margins(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps):
    """(h⁺, h⁻), the chosen and rejected log-ratios, after checking the four (B,) inputs by name."""
    _check_batch(policy_chosen_logps=policy_chosen_logps, policy_rejected_logps=policy_rejected_logps,
                 ref_chosen_logps=ref_chosen_logps, ref_rejected_logps=ref_rejected_logps)
    chosen = policy_chosen_logps - ref_chosen_logps  # (B,) h⁺
    rejected = policy_rejected_logps - ref_rejected_logps  # (B,) h⁻
    return chosen, rejected


def _metrics(chosen, rejected, beta, policy_chosen_logps, policy_rejected_logps) -> dict:
    rewards_chosen = (beta * chosen).detach()  # implicit rewards (up to the calibration shift, theory §5)
    rewards_rejected = (beta * rejected).detach()
    return {
        "rewards/chosen": rewards_chosen.mean().item(),
        "rewards/rejected": rewards_rejected.mean().item(),
        "rewards/margins": (rewards_chosen - rewards_rejected).mean().item(),
        "rewards/accuracies": (rewards_chosen > rewards_rejected).float().mean().item(),
        "logps/chosen": policy_chosen_logps.detach().mean().item(),
        "logps/rejected": policy_rejected_logps.detach().mean().item(),
    }


def dpo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, *, beta: float):
    """DPO: mean_i −log σ(β[h_i⁺ − h_i⁻])  (theory §5 with α = 0, I7). Returns (loss, metrics)."""
    return vpo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps,
                    beta=beta, alpha=0.0, sign=-1)


def ipo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, *, beta: float):
    """IPO (Azar et al. 2023): mean_i (h_i⁺ − h_i⁻ − 1/(2β))², with β as IPO's τ.

    Normalization: h is the *summed* sequence log-ratio, as in the IPO paper's definition.
    TRL's ``loss_type="ipo"`` averages log-probs over tokens first; with responses of equal
    length L the two differ by the factor L inside the square.
    """
    beta = _check_scalar("beta", beta, allow_zero=False)
    chosen, rejected = _pair_margins(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps)
    loss = ((chosen - rejected - 1.0 / (2.0 * beta)) ** 2).mean()
    metrics = _metrics(chosen, rejected, beta, policy_chosen_logps, policy_rejected_logps)
    metrics["loss/ipo"] = loss.detach().item()
    return loss, metrics


def _check_calibration(log_ratio, cal_weights, cal_token_counts, cal_normalization: str) -> None:
    """Refuse calibration weights or token counts that do not fit the (M,) log-ratios."""
    if cal_normalization == "token_mean":
        if cal_token_counts is None:
            raise ValueError("`cal_token_counts` (M,) is required with cal_normalization='token_mean'")
        if cal_token_counts.shape != log_ratio.shape:
            raise ValueError(f"`cal_token_counts` must have shape {tuple(log_ratio.shape)}, "
                             f"got {tuple(cal_token_counts.shape)}")
        if bool((cal_token_counts <= 0).any()):
            raise ValueError("`cal_token_counts` must be > 0 (a calibration response has at least one token)")
    if cal_weights is not None:
        if cal_weights.shape != log_ratio.shape:
            raise ValueError(f"`cal_weights` must have shape {tuple(log_ratio.shape)}, got {tuple(cal_weights.shape)}")
        if bool((cal_weights < 0).any()) or not bool(cal_weights.sum() > 0):
            raise ValueError("`cal_weights` must be >= 0 with a positive sum")


def calibration_term(log_ratio: torch.Tensor, *, beta: float, alpha: float, sign: int,
                     cal_weights: torch.Tensor | None = None, cal_token_counts: torch.Tensor | None = None,
                     cal_normalization: str = "sum", reward_bound: float | None = None) -> torch.Tensor:
    """s·a·β·Σ_j w_j h̃_j / Σ_j w_j (theory §5, mean form), the term VPO adds to the DPO loss; () tensor.

    log_ratio: (M,) h̃_j = log π(ỹ_j|x_j) − log π_ref(ỹ_j|x_j) of the calibration samples. ``cal_normalization =
    "token_mean"`` divides each by its token count ``cal_token_counts`` (M,); ``reward_bound`` B clips the implicit
    rewards β·h̃_j to [−B, B] (the bounded class for s = +1, theory §5); ``cal_weights`` (M,) weigh the mean (None:
    uniform). No input checks here — ``vpo_loss`` checks its inputs; trainers pass their own batch tensors.
    """
    if cal_normalization == "token_mean":
        log_ratio = log_ratio / cal_token_counts.to(log_ratio.dtype)
    if reward_bound is not None:  # β·h̃ ∈ [−B, B]: a sample outside the class no longer moves the loss
        log_ratio = log_ratio.clamp(-reward_bound / beta, reward_bound / beta)
    if cal_weights is None:
        mean_log_ratio = log_ratio.mean()
    else:
        weights = cal_weights.to(log_ratio.dtype)
        mean_log_ratio = (weights * log_ratio).sum() / weights.sum()
    return sign * alpha * beta * mean_log_ratio  # s·a·β·E_{π_cal} h (theory §5); the constant part kept


def vpo_loss(
    policy_chosen_logps: torch.Tensor,
    policy_rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    policy_cal_logps: torch.Tensor | None = None,
    ref_cal_logps: torch.Tensor | None = None,
    *,
    beta: float,
    alpha: float,
    sign: int,
    cal_weights: torch.Tensor | None = None,
    cal_token_counts: torch.Tensor | None = None,
    cal_normalization: str = "sum",
    reward_bound: float | None = None,
):
    """VPO in policy space, mean form  (theory §5, I6). Returns ``(loss, metrics)``.

    Args:
      policy_chosen_logps: (B,) summed log π(y⁺|x) of the chosen responses.
      policy_rejected_logps: (B,) summed log π(y⁻|x) of the rejected responses.
      ref_chosen_logps: (B,) the same under π_ref.
      ref_rejected_logps: (B,) the same under π_ref.
      policy_cal_logps: (M,) summed log π(ỹ_j|x_j) of calibration samples ỹ_j ~ π_cal; needed when
        ``alpha > 0`` (None allowed only for alpha == 0).
      ref_cal_logps: (M,) the same under π_ref.
      beta: KL strength β > 0.
      alpha: the mean-form weight a = α/N ≥ 0.
      sign: +1 optimism (online), −1 pessimism (offline).
      cal_weights: (M,) ≥ 0; the calibration mean becomes Σ w_j h̃_j / Σ w_j (importance
        weights, or an exact expectation over an enumerated response set).
      cal_token_counts: (M,) response lengths, required by ``cal_normalization="token_mean"``.
      cal_normalization: "sum" (theory-exact: h̃ is the summed log-ratio) or "token_mean"
        (h̃ divided by its token count, as TRL's ``sft`` loss averages over tokens). "token_mean"
        departs from (I6): the loss is then no longer the reward-space VPO objective.
      reward_bound: B > 0 or None: the calibration samples' implicit rewards β·h̃ are clipped to [−B, B], the
        bounded class that gives s = +1 a minimizer (theory §5, "A bounded class"); None: unbounded.

    Metrics (detached floats): TRL's names ``rewards/chosen``, ``rewards/rejected``,
    ``rewards/margins``, ``rewards/accuracies``, ``logps/chosen``, ``logps/rejected``, plus
    ``loss/dpo`` and ``loss/cal`` (the signed calibration term s·a·β·mean h̃), also under the
    names ``dpo_loss`` and ``cal_term``.
    """
    beta = _check_scalar("beta", beta, allow_zero=False)
    alpha = _check_scalar("alpha", alpha, allow_zero=True)
    if isinstance(sign, bool) or sign not in (1, -1):
        raise ValueError(f"`sign` must be +1 (optimistic, online) or -1 (pessimistic, offline), got {sign!r}")
    if cal_normalization not in ("sum", "token_mean"):
        raise ValueError(f"`cal_normalization` must be 'sum' or 'token_mean', got {cal_normalization!r}")
    if reward_bound is not None:
        reward_bound = _check_scalar("reward_bound", reward_bound, allow_zero=False)

    chosen, rejected = _pair_margins(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps)
    dpo = -F.logsigmoid(beta * (chosen - rejected)).mean()  # −log σ(β[h⁺ − h⁻]), stable form
    loss = dpo
    cal_term = torch.zeros((), dtype=dpo.dtype, device=dpo.device)
    if alpha > 0:
        if policy_cal_logps is None or ref_cal_logps is None:
            raise ValueError("`policy_cal_logps` and `ref_cal_logps` are required when alpha > 0 (the calibration "
                             "term s·a·β·E_{π_cal}[log π − log π_ref]); pass them or set alpha=0 for DPO")
        _check_batch(policy_cal_logps=policy_cal_logps, ref_cal_logps=ref_cal_logps)
        log_ratio = policy_cal_logps - ref_cal_logps  # (M,) h̃
        _check_calibration(log_ratio, cal_weights, cal_token_counts, cal_normalization)
        cal_term = calibration_term(log_ratio, beta=beta, alpha=alpha, sign=sign, cal_weights=cal_weights,
                                    cal_token_counts=cal_token_counts, cal_normalization=cal_normalization,
                                    reward_bound=reward_bound)
        loss = dpo + cal_term
    metrics = _metrics(chosen, rejected, beta, policy_chosen_logps, policy_rejected_logps)
    metrics.update({"loss/dpo": dpo.detach().item(), "loss/cal": cal_term.detach().item()})
    metrics["dpo_loss"] = metrics["loss/dpo"]
    metrics["cal_term"] = metrics["loss/cal"]
    return loss, metrics

"""vpo_loss: float64 gradcheck, α = 0 is DPO, (I6) against the theory module, validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import vpo_theory as vt
from vpo_llm import dpo_loss, ipo_loss, vpo_loss


def _batch(seed, size=6, cal=5):
    g = torch.Generator().manual_seed(seed)
    make = lambda n: (torch.randn(n, generator=g, dtype=torch.float64) * 3 - 10)  # noqa: E731
    return make(size), make(size), make(size), make(size), make(cal), make(cal)


def test_float64_gradcheck_both_normalizations():
    pc, pr, rc, rr, pcal, rcal = _batch(0)
    counts = torch.tensor([3.0, 1.0, 4.0, 2.0, 5.0], dtype=torch.float64)
    weights = torch.tensor([0.1, 0.0, 2.0, 1.0, 0.5], dtype=torch.float64)
    for normalization in ("sum", "token_mean"):
        for sign in (1, -1):
            def f(pc, pr, pcal):
                return vpo_loss(pc, pr, rc, rr, pcal, rcal, beta=0.3, alpha=1.7, sign=sign, cal_weights=weights,
                                cal_token_counts=counts, cal_normalization=normalization)[0]

            inputs = tuple(t.clone().requires_grad_(True) for t in (pc, pr, pcal))
            assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-8)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.01, 10.0), st.sampled_from([1, -1]))
def test_alpha_zero_is_dpo(seed, beta, sign):
    pc, pr, rc, rr, _, _ = _batch(seed)
    loss, metrics = vpo_loss(pc, pr, rc, rr, beta=beta, alpha=0.0, sign=sign)
    expected = sum(math.log1p(math.exp(-beta * ((a - b) - (c - d)))) if beta * ((a - b) - (c - d)) > -30
                   else -beta * ((a - b) - (c - d)) for a, b, c, d in zip(pc.tolist(), rc.tolist(), pr.tolist(),
                                                                           rr.tolist())) / len(pc)
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    assert dpo_loss(pc, pr, rc, rr, beta=beta)[0].item() == pytest.approx(expected, rel=1e-12)
    assert metrics["cal_term"] == 0.0 and metrics["dpo_loss"] == pytest.approx(expected, rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.1, 3.0), st.floats(0.0, 5.0), st.sampled_from([1, -1]))
def test_I6_batch_loss_equals_the_theory_objective(seed, beta, a, sign):
    """A tabular policy as a 'model': B·L with exact calibration weights ρ·π_cal = vpo_policy_objective(α = a·B)."""
    rng = np.random.default_rng(seed)
    X, Y, B = 3, 4, 7
    pi, pi_ref, pi_cal = (rng.dirichlet(np.ones(Y), size=X) for _ in range(3))
    rho = rng.dirichlet(np.ones(X))
    x, winner, loser = rng.integers(0, X, B), rng.integers(0, Y, B), rng.integers(0, Y, B)
    logp, logp_ref = torch.tensor(np.log(pi)), torch.tensor(np.log(pi_ref))
    cal_x, cal_y = np.repeat(np.arange(X), Y), np.tile(np.arange(Y), X)  # every (x, y): an exact expectation
    loss, _ = vpo_loss(logp[x, winner], logp[x, loser], logp_ref[x, winner], logp_ref[x, loser],
                       logp[cal_x, cal_y], logp_ref[cal_x, cal_y], beta=beta, alpha=a, sign=sign,
                       cal_weights=torch.tensor(rho[cal_x] * pi_cal[cal_x, cal_y]))
    theory = vt.vpo_policy_objective(pi, x, winner, loser, pi_ref, pi_cal, rho, beta, a * B, sign)
    assert B * loss.item() == pytest.approx(theory, rel=1e-10, abs=1e-10)


def test_token_mean_divides_each_calibration_log_ratio_by_its_length():
    pc, pr, rc, rr, pcal, rcal = _batch(3)
    counts = torch.tensor([2.0, 3.0, 1.0, 5.0, 4.0], dtype=torch.float64)
    loss, metrics = vpo_loss(pc, pr, rc, rr, pcal, rcal, beta=0.5, alpha=2.0, sign=-1, cal_token_counts=counts,
                             cal_normalization="token_mean")
    expected_cal = -1 * 2.0 * 0.5 * ((pcal - rcal) / counts).mean().item()
    assert metrics["loss/cal"] == pytest.approx(expected_cal, rel=1e-12)
    assert loss.item() == pytest.approx(metrics["loss/dpo"] + expected_cal, rel=1e-12)


def test_metrics_follow_trl_names_and_values():
    pc, pr, rc, rr, pcal, rcal = _batch(4)
    _, metrics = vpo_loss(pc, pr, rc, rr, pcal, rcal, beta=0.2, alpha=1.0, sign=1)
    chosen, rejected = 0.2 * (pc - rc), 0.2 * (pr - rr)
    assert metrics["rewards/margins"] == pytest.approx((chosen - rejected).mean().item())
    assert metrics["rewards/accuracies"] == pytest.approx((chosen > rejected).double().mean().item())
    assert metrics["logps/chosen"] == pytest.approx(pc.mean().item())
    assert {"rewards/chosen", "rewards/rejected", "logps/rejected", "loss/dpo", "loss/cal"} <= set(metrics)


def test_ipo_matches_its_definition():
    pc, pr, rc, rr, _, _ = _batch(5)
    loss, _ = ipo_loss(pc, pr, rc, rr, beta=0.25)
    expected = (((pc - rc) - (pr - rr) - 2.0) ** 2).mean().item()
    assert loss.item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("kwargs,message", [
    (dict(beta=0.0), "beta"), (dict(beta=float("nan")), "beta"), (dict(alpha=-1.0), "alpha"),
    (dict(sign=0), "sign"), (dict(sign=True), "sign"), (dict(cal_normalization="mean"), "cal_normalization"),
    (dict(drop_cal=True), "policy_cal_logps"), (dict(cal_normalization="token_mean"), "cal_token_counts"),
    (dict(cal_weights=torch.tensor([-1.0, 1, 1, 1, 1], dtype=torch.float64)), "cal_weights"),
    (dict(short_rejected=True), "batch sizes"),
])
def test_bad_inputs_are_refused(kwargs, message):
    pc, pr, rc, rr, pcal, rcal = _batch(6)
    if kwargs.pop("drop_cal", False):
        pcal = rcal = None
    if kwargs.pop("short_rejected", False):
        pr = pr[:3]
    arguments = dict(beta=0.1, alpha=1.0, sign=-1) | kwargs
    with pytest.raises((ValueError, TypeError), match=message):
        vpo_loss(pc, pr, rc, rr, pcal, rcal, **arguments)


@settings(max_examples=120, deadline=None)
@given(argument=st.sampled_from(["policy_chosen_logps", "policy_rejected_logps", "ref_chosen_logps",
                                 "ref_rejected_logps", "policy_cal_logps", "ref_cal_logps"]),
       bad=st.sampled_from([float("nan"), float("inf"), float("-inf")]), index=st.integers(0, 5),
       scalar=st.sampled_from([None, ("beta", 0.0), ("beta", -1.0), ("beta", float("inf")), ("alpha", float("nan")),
                               ("alpha", -0.5), ("sign", 2), ("sign", 1.0 + 1e-9)]))
def test_any_non_finite_log_prob_or_bad_scalar_is_refused_by_name(argument, bad, index, scalar):
    tensors = dict(zip(["policy_chosen_logps", "policy_rejected_logps", "ref_chosen_logps", "ref_rejected_logps",
                        "policy_cal_logps", "ref_cal_logps"], _batch(6)))
    arguments = dict(beta=0.1, alpha=1.0, sign=-1)
    if scalar is None:
        tensors[argument] = tensors[argument].clone()
        tensors[argument][index % len(tensors[argument])] = bad
        expected = argument
    else:
        arguments[scalar[0]] = scalar[1]
        expected = scalar[0]
    with pytest.raises((ValueError, TypeError)) as error:
        vpo_loss(**tensors, **arguments)
    assert f"`{expected}`" in str(error.value)

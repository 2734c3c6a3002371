"""geometry: optimism vs pessimism at a glance on a 3-response bandit  (theory §3, §4, §8).

One context, K = 3 responses. Calibrated rewards (π_ref·r = 0) form a plane, drawn in an
orthonormal basis. On it: contours of the BT negative log-likelihood, level lines of J⋆, the
MLE, the confidence ellipse around it, the true (calibrated) reward, and the VPO estimates
for s = +1 (optimism: up the J⋆ slope) and s = −1 (pessimism: down it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.linalg import null_space

import vpo_theory as vt
from vpo_theory.data import sample_preferences
from vpo_theory import kernels

from ..common import pyplot, save_figure
from ..figure import Figure, register
from ..tuned import tuned_values

PI_REF = np.array([[0.5, 0.3, 0.2]])
RHO = np.array([1.0])
TRUE_REWARD = np.array([[0.0, 0.6, 1.0]])
BETA = 0.5
BOUND = 1.5  # the class |r| ≤ B; its largest margin 2B sets κ = σ′(2B) in the confidence radius (theory §8)


def compute(quick: bool) -> dict:
    num_pairs = 30
    alpha = float(np.sqrt(num_pairs))
    data = sample_preferences(np.random.default_rng(3), RHO, np.full((1, 3), 1 / 3), TRUE_REWARD, num_pairs)
    problem = vt.Problem(PI_REF, RHO, BETA)
    mle = vt.fit_mle(problem, data, pi_cal=PI_REF, bound=BOUND)
    optimistic = vt.fit_vpo(problem, data, alpha=alpha, sign=+1, pi_cal=PI_REF, bound=BOUND)
    pessimistic = vt.fit_vpo(problem, data, alpha=alpha, sign=-1, pi_cal=PI_REF, bound=BOUND)
    features = vt.one_hot_features(1, 3)
    c_gamma = tuned_values()["coverage_c_gamma"]["tabular"]
    confidence = vt.confidence_set(*data.astuple(), features, mle.reward.ravel(), c_gamma=c_gamma,
                                   delta=0.05, ridge=1.0 / num_pairs, theta_bound=BOUND * np.sqrt(3),
                                   margin_bound=2 * BOUND)
    basis = null_space(PI_REF)  # (3, 2) orthonormal basis of the calibrated plane
    to_plane = lambda r: (basis.T @ np.asarray(r).ravel()).tolist()  # noqa: E731
    truth = vt.calibrate(TRUE_REWARD, PI_REF)
    suboptimality = {name: vt.suboptimality(fit.policy, TRUE_REWARD, PI_REF, RHO, BETA)
                     for name, fit in (("mle", mle), ("vpo+", optimistic), ("vpo-", pessimistic))}
    return {
        "config": {"quick": quick, "pi_ref": PI_REF, "true_reward": TRUE_REWARD, "beta": BETA, "bound": BOUND,
                   "num_pairs": num_pairs, "alpha": alpha, "data_seed": 3, "behavior": "uniform",
                   "c_gamma": c_gamma},
        "results": {
            "data": np.stack(data.astuple()), "basis": basis, "truth": to_plane(truth), "mle": to_plane(mle.reward),
            "vpo+": to_plane(optimistic.reward), "vpo-": to_plane(pessimistic.reward),
            "ellipse_matrix": basis.T @ confidence.precision @ basis, "radius": confidence.radius,
            "optimal_value": {"mle": mle.optimal_value, "vpo+": optimistic.optimal_value,
                              "vpo-": pessimistic.optimal_value, "truth": vt.optimal_value(truth, PI_REF, RHO, BETA)},
            "suboptimality": suboptimality,
        },
        "summary": {"J*": f"optimistic {optimistic.optimal_value:.3f} > MLE {mle.optimal_value:.3f} > pessimistic "
                          f"{pessimistic.optimal_value:.3f}",
                    "SubOpt": ", ".join(f"{k} {v:.4f}" for k, v in suboptimality.items())},
    }


def plot(record: dict, path: Path) -> None:
    plt = pyplot()
    res = record["results"]
    cfg = record["config"]
    basis = np.asarray(res["basis"])
    x, winner, loser = np.asarray(res["data"])
    pi_ref = np.asarray(cfg["pi_ref"])
    extent = 1.25 * cfg["bound"]
    grid = np.linspace(-extent, extent, 301)
    a, b = np.meshgrid(grid, grid, indexing="xy")
    rewards = a[..., None] * basis[:, 0] + b[..., None] * basis[:, 1]  # (G, G, 3)
    counts = vt.pair_counts(x, winner, loser, num_contexts=1, num_responses=3)  # (1, 3, 3)
    nll = kernels.bt_nll_counts(rewards[..., None, :], counts)[..., 0]  # (G, G) ℓ(r) (theory §3)
    j_star = kernels.optimal_value(rewards[..., None, :], np.log(pi_ref), np.ones(1), cfg["beta"])  # (G, G) J*(r)
    fig, ax = plt.subplots(figsize=(6.2, 5.6))
    contour = ax.contourf(a, b, nll, levels=25, cmap="Greys_r", alpha=0.8)
    fig.colorbar(contour, ax=ax, label="BT negative log-likelihood ℓ(r)")
    lines = ax.contour(a, b, j_star, levels=8, colors="C0", linewidths=0.8, linestyles="--")
    ax.clabel(lines, fontsize=7, fmt="J*=%.2f")
    # the confidence ellipse {c : cᵀ A c ≤ Γ²} around the MLE
    eigenvalues, vectors = np.linalg.eigh(np.asarray(res["ellipse_matrix"]))
    angle = np.linspace(0, 2 * np.pi, 200)
    circle = np.stack([np.cos(angle), np.sin(angle)])
    ellipse = vectors @ (circle * (res["radius"] / np.sqrt(eigenvalues))[:, None])
    mle = np.asarray(res["mle"])
    outside = np.abs(mle[:, None] + ellipse).max() > 1.25 * cfg["bound"]
    ax.plot(mle[0] + ellipse[0], mle[1] + ellipse[1], color="C2", lw=1.5,
            label="confidence set C (LCB/UCB)" + (" — reaches beyond the axes" if outside else ""))
    inside = np.all(np.abs(rewards) <= cfg["bound"], axis=-1).astype(float)
    ax.contour(a, b, inside, levels=[0.5], colors="k", linewidths=1.2)
    ax.plot([], [], color="k", lw=1.2, label=f"reward class |r| ≤ {cfg['bound']:g}")
    marks = [("truth", "*", "gold", "true reward r* (calibrated)"), ("mle", "o", "C2", "MLE"),
             ("vpo+", "^", "C3", "VPO s=+1 (optimistic)"), ("vpo-", "v", "C0", "VPO s=−1 (pessimistic)")]
    for key, marker, color, label in marks:
        point = np.asarray(res[key])
        ax.plot(*point, marker=marker, color=color, ms=12 if key == "truth" else 9, mec="k", ls="none",
                label=f"{label}: J*={res['optimal_value'][key]:.2f}")
    ax.set(xlim=(-extent, extent), ylim=(-extent, extent), xlabel="calibrated-plane coordinate 1",
           ylabel="calibrated-plane coordinate 2", aspect="equal")
    ax.set_title(f"3 responses, {cfg['num_pairs']} comparisons, α = √N, β = {cfg['beta']}", fontsize=10)
    ax.legend(fontsize=7, loc="lower left")
    save_figure(fig, path)


register(Figure("geometry", "teaching picture: reward plane, MLE, confidence ellipse, optimistic/pessimistic VPO",
                compute, plot))

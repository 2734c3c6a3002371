"""Independent reference implementations for the tests, in 60-digit mpmath arithmetic.

Written straight from the definitions of theory §2–5 with loops and no shared code with the
package: if the package's stable forms (log-sum-exp, log-sigmoid, the I1 route to SubOpt)
were wrong, these would disagree.
"""

from __future__ import annotations

import mpmath as mp
import numpy as np

mp.mp.dps = 60


def _log_z(r_row, pi_ref_row, beta):
    return mp.log(mp.fsum(mp.mpf(p) * mp.exp(mp.mpf(v) / beta) for v, p in zip(r_row, pi_ref_row)))


def optimal_policy(r, pi_ref, beta):
    beta = mp.mpf(beta)
    out = np.zeros(r.shape)
    for i in range(r.shape[0]):
        weights = [mp.mpf(p) * mp.exp(mp.mpf(v) / beta) for v, p in zip(r[i], pi_ref[i])]
        total = mp.fsum(weights)
        out[i] = [float(w / total) for w in weights]
    return out


def optimal_value_mp(r, pi_ref, rho, beta):
    beta = mp.mpf(beta)
    return mp.fsum(mp.mpf(rho[i]) * beta * _log_z(r[i], pi_ref[i], beta) for i in range(r.shape[0]))


def value_mp(r, pi, pi_ref, rho, beta):
    beta = mp.mpf(beta)
    total = mp.mpf(0)
    for i in range(r.shape[0]):
        reward = mp.fsum(mp.mpf(p) * mp.mpf(v) for p, v in zip(pi[i], r[i]))
        kl = mp.fsum(mp.mpf(p) * (mp.log(mp.mpf(p)) - mp.log(mp.mpf(q))) for p, q in zip(pi[i], pi_ref[i]) if p > 0)
        total += mp.mpf(rho[i]) * (reward - beta * kl)
    return total


def bt_nll_mp(r, x, winner, loser):
    return mp.fsum(mp.log(1 + mp.exp(-(mp.mpf(r[i, w]) - mp.mpf(r[i, l])))) for i, w, l in zip(x, winner, loser))


def implicit_reward(pi, pi_ref, pi_cal, beta):
    out = np.zeros(pi.shape)
    for i in range(pi.shape[0]):
        h = [mp.log(mp.mpf(p)) - mp.log(mp.mpf(q)) for p, q in zip(pi[i], pi_ref[i])]
        mean = mp.fsum(mp.mpf(c) * v for c, v in zip(pi_cal[i], h))
        out[i] = [float(mp.mpf(beta) * (v - mean)) for v in h]
    return out

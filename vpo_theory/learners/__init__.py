"""The online learners, one small class each, registered by name for ``run_online``  (docs/theory.md §6).

- ``optimistic``: ``vpo`` (VPO's certified optimistic step), ``xpo`` and ``selm`` (their exploration terms over
  the samples actually drawn, as bandits);
- ``plugin``: ``greedy`` (the MLE plug-in), ``mixed`` (two-stage mixed sampling), ``reference``, ``oracle``;
- ``confidence``: ``ucb`` (c_Γ tuned for regret), ``ucb-coverage`` (c_Γ for coverage), ``maxinp`` (the most
  informative pair of plausible responses);
- ``thompson``: ``ts`` (Thompson sampling on a Laplace posterior).

A new learner is one class with ``@register("name")`` in one of these modules (or a new one imported here).
"""

from . import confidence, optimistic, plugin, thompson  # noqa: F401  (each registers its learners)
from .base import LEARNERS, Learner, PluginFit, Run, register

__all__ = ["LEARNERS", "Learner", "PluginFit", "Run", "register"]

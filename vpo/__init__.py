"""vpo — Value-Incentivized Preference Optimization (Cen et al., arXiv 2405.19320).

The package ships three importable parts:

- ``vpo_theory``: tabular and linear KL-regularized bandits, VPO solved exactly (NumPy/SciPy/cvxpy);
- ``vpo_llm``: the VPO loss and trainers for causal language models (PyTorch);
- ``paper_repro``: one module per figure, walked by ``vpo repro``.

This module only carries the version and the command line (``vpo.cli``).
"""

from importlib.metadata import distributions

# the installed distribution's version; "0.0.0+unknown" in a source tree that was never installed
__version__ = next((distribution.version for distribution in distributions(name="vpo")), "0.0.0+unknown")

__all__ = ["__version__"]

"""One module per figure: an expensive ``compute`` (cached as JSON) and a cheap ``plot``.

``vpo repro`` walks ``registry.FIGURES``. Records carry their config, seeds, package version,
git commit and wall time (``common.provenance``).
"""

from .registry import FIGURES, Figure, run_figures

__all__ = ["FIGURES", "Figure", "run_figures"]

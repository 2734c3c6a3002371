"""The optimistic step solved globally, with a certificate  (docs/theory.md §10, "Certified optimism").

    minimize  f(w) = ℓ(B w) − a·J⋆(B w) + λ/2‖w‖²   over the reward class P

ℓ (the Bradley–Terry NLL) is convex and −a·J⋆ is concave: f is a difference of convex functions, whose local
minima need not be global. ``certified_minimize`` finds the global minimum by simplicial branch and bound and
returns, beside the minimizer and its objective (an upper bound on the minimum), a *proven* lower bound on the
minimum and their gap. The package, top to bottom:

- ``objective``: f, ∇f, ∇²f at many points at once, and Loewner bounds of ∇²f over cells;
- ``region``: what the search asks of a class; ``polytope`` (tabular: |(B w)_y| ≤ R, triangulated exactly) and
  ``ball`` (linear: ‖w‖ ≤ R, covered by the cross-polytope) implement it;
- ``bounds``: lower bounds of f on a cell (tangent + chord, αBB with Frank–Wolfe, the incumbent's basin);
- ``minorant``: the ball's quadratic minorants and their exact minimum over a ball (bound 5);
- ``search``: the incumbent, the whole-class check, best-first branch and bound with a budget in cells and
  seconds, and the partition an online round hands to the next.
"""

from .polytope import polytope_vertices
from .search import (DEFAULT_MAX_CELLS, DEFAULT_RTOL, REGIONS, Budget, CertifiedSolution, Partition,
                     certified_minimize)

__all__ = ["Budget", "CertifiedSolution", "DEFAULT_MAX_CELLS", "DEFAULT_RTOL", "Partition", "REGIONS",
           "certified_minimize", "polytope_vertices"]

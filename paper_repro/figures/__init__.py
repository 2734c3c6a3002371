"""Figure modules; importing this package registers them all."""
from . import tuning  # noqa: F401  (first: the hyperparameters the others pass are chosen here)
from . import online_regret  # noqa: F401
from . import optimism_vs_greedy  # noqa: F401
from . import offline_suboptimality  # noqa: F401
from . import confidence_coverage  # noqa: F401
from . import geometry  # noqa: F401
from . import offline_sweeps  # noqa: F401
from . import dimension_scaling  # noqa: F401
from . import class_bound  # noqa: F401
from . import llm  # noqa: F401

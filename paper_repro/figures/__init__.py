"""Figure modules; importing this package registers them all."""
from . import offline_suboptimality  # noqa: F401
from . import confidence_coverage  # noqa: F401
from . import geometry  # noqa: F401
from . import offline_sweeps  # noqa: F401
from . import online_regret  # noqa: F401
from . import llm  # noqa: F401

"""The TRL range ``VPOTrainer`` is built and tested on, checked when it is imported.

``VPOTrainer`` overrides private methods of ``trl.DPOTrainer`` and relies on its fused LM head: a TRL release can change
them without notice (TRL removed ``XPOTrainer`` and ``NashMDTrainer`` in 1.14). So at import the version must lie in
``SUPPORTED`` and each method must exist with the parameters the overrides expect; otherwise one ImportError names the
supported range and what differs. Widen the range only with the trainer tests run on the new release.
"""

from __future__ import annotations

import inspect

__all__ = ["SUPPORTED", "OVERRIDDEN", "check", "problems"]

#: The TRL versions this package supports: [lowest, highest) — also pinned in pyproject.toml's ``trl`` extra.
SUPPORTED = ("1.16", "1.17")

#: DPOTrainer methods VPOTrainer overrides or calls, with the parameters it passes (after ``self``).
OVERRIDDEN = {
    "_compute_loss": ("model", "inputs", "return_outputs"),
    "_prepare_dataset": ("dataset", "processing_class", "args", "dataset_name"),
    "_set_signature_columns_if_needed": (),
    "_precompute_ref_logps": ("dataset", "name", "batch_size"),
    "compute_ref_log_probs": ("model", "inputs"),
}


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:2] if part.isdigit())


def problems(trl_module=None) -> list[str]:
    """What differs from the supported TRL: an empty list when nothing does."""
    if trl_module is None:
        import trl as trl_module
    found = []
    version = getattr(trl_module, "__version__", "0")
    low, high = (_version_tuple(v) for v in SUPPORTED)
    if not low <= _version_tuple(version) < high:
        found.append(f"TRL {version} is installed")
    trainer = getattr(trl_module, "DPOTrainer", None)
    for name, parameters in OVERRIDDEN.items():
        method = getattr(trainer, name, None)
        if method is None:
            found.append(f"trl.DPOTrainer.{name} does not exist")
            continue
        have = tuple(p for p in inspect.signature(method).parameters if p != "self")
        if have != parameters:
            found.append(f"trl.DPOTrainer.{name}{have} takes other parameters than {parameters}")
    if not hasattr(getattr(trl_module, "trainer", None), "add_fused_lm_head"):
        found.append("trl.trainer.add_fused_lm_head (the fused LM head with `fused_lm_head=True`) does not exist")
    return found


def check(trl_module=None) -> None:
    """Raise one ImportError naming the supported range when the installed TRL is outside it."""
    found = problems(trl_module)
    if found:
        raise ImportError(f"vpo_llm.VPOTrainer supports TRL >= {SUPPORTED[0]}, < {SUPPORTED[1]}: " + "; ".join(found)
                          + f". Install it with: pip install 'trl>={SUPPORTED[0]},<{SUPPORTED[1]}'")

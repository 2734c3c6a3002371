"""Public names that load their module on first use: a package's ``__getattr__`` and ``__dir__`` (PEP 562), so that
``import vpo_theory`` or ``import vpo_llm`` is instant and heavy dependencies (cvxpy, torch, TRL) come only with the
first name that needs them."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Callable

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: dict[str, str], *,
                 needs: Callable[[str, str, ImportError], str | None] | None = None):
    """(``__getattr__``, ``__dir__``) for ``package``: ``exports`` maps a public name to the module that defines it;
    submodules resolve too. ``needs(name, module, error)``: the install hint for an ImportError (None: re-raise)."""

    def __getattr__(name: str):
        if name in exports:
            try:
                module = importlib.import_module(f".{exports[name]}", package)
            except ImportError as error:
                hint = needs(name, exports[name], error) if needs is not None else None
                if hint is None:
                    raise
                raise ImportError(hint) from None
            value = getattr(module, name)
            setattr(sys.modules[package], name, value)  # once loaded, a plain attribute
            return value
        if importlib.util.find_spec(f"{package}.{name}") is not None:  # a submodule: vpo_theory.kernels, …
            return importlib.import_module(f".{name}", package)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__

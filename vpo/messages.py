"""Error messages for the command line: the library names arguments and fields (`batch_size`), the command
line names its flags (--batch-size)."""

from __future__ import annotations

import re

__all__ = ["as_flags"]


def as_flags(message: str, names=None) -> str:
    """``message`` with each backticked name (and "option `name`") written as its flag; ``names``: only these."""
    def flag(match):
        name = match.group(1)
        return "--" + name.replace("_", "-") if names is None or name in names else match.group(0)

    return re.sub(r"(?:option )?`(\w+)`", flag, message)

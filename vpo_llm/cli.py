"""``vpo llm offline ...``: train on the built-in enumerable task; flags are OfflineConfig's fields."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import re
import time
from pathlib import Path


def _field_help(cls) -> dict[str, str]:
    """The trailing comment of each field line of a dataclass: its --help text."""
    helps = {}
    for line in inspect.getsource(cls).splitlines():
        match = re.match(r"\s+(\w+):[^=]+=.*?#\s*(.+)$", line)
        if match:
            helps[match.group(1)] = match.group(2).strip()
    return helps


def add_llm_commands(subparsers) -> None:
    llm = subparsers.add_parser("llm", help="LLM training with vpo_loss (vpo_llm)",
                                description="Train causal LMs with the VPO loss.")
    llm.set_defaults(handler=lambda args, parser: (parser.print_help(), 0)[1], parser=llm)
    modes = llm.add_subparsers(title="modes", metavar="MODE")
    offline = modes.add_parser(
        "offline", help="offline training on the built-in enumerable task (exact evaluation)",
        description="Offline preference training of a tiny Llama on the built-in enumerable task; metrics "
        "(exact J, SubOpt, KL by enumeration) to OUT_DIR/metrics.jsonl, checkpoints to OUT_DIR/checkpoint.pt "
        "(a rerun resumes). Users with their own model and data: see README, 'Your own model and data'.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    from .training import OfflineConfig

    helps = _field_help(OfflineConfig)
    for field in dataclasses.fields(OfflineConfig):
        if field.name == "task":
            continue
        default = field.default if field.default is not dataclasses.MISSING else None
        flag = "--" + field.name.replace("_", "-")
        if isinstance(default, bool):
            offline.add_argument(flag, type=lambda s: s.lower() in ("1", "true", "yes"), default=default,
                                 help=helps.get(field.name, field.name))
        else:
            kind = {"int": int, "float": float, "str": str}.get(type(default).__name__, float)
            if field.name == "beta":
                kind = float
            offline.add_argument(flag, type=kind, default=default, help=helps.get(field.name, field.name))
    offline.set_defaults(handler=_run_offline, parser=offline)


def _run_offline(args, parser) -> int:
    from paper_repro.common import atomic_write_json, provenance

    from .training import OfflineConfig, train_offline

    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(OfflineConfig) if f.name != "task"}
    if not values["out_dir"]:
        values["out_dir"] = str(Path("runs") / f"llm-offline-{values['loss']}-seed{values['seed']}-{time.strftime('%Y%m%d-%H%M%S')}")
    try:
        config = OfflineConfig(**values)
    except ValueError as error:
        parser.error(str(error))
    start = time.time()
    result = train_offline(config)
    final = result["final"]
    print(json.dumps({k: round(v, 6) if isinstance(v, float) else v for k, v in final.items()}))
    atomic_write_json(Path(config.out_dir) / "result.json",
                      {"config": dataclasses.asdict(config), "history": result["history"],
                       "provenance": provenance() | {"wall_time_s": round(time.time() - start, 2)}})
    print(f"wrote {config.out_dir}/metrics.jsonl, result.json, checkpoint.pt")
    return 0

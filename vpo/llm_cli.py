"""``vpo llm offline|online ...``: flags are the fields of OfflineConfig / DatasetConfig / OnlineConfig."""

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


def _boolean(text: str) -> bool:
    if text.lower() in ("1", "true", "yes"):
        return True
    if text.lower() in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


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
    from vpo_llm.training import DatasetConfig, OfflineConfig

    helps = _field_help(OfflineConfig) | {k: v for k, v in _field_help(DatasetConfig).items()
                                          if k not in _field_help(OfflineConfig)}
    defaults = {f.name: f.default for f in dataclasses.fields(OfflineConfig)}
    names = [f.name for f in dataclasses.fields(OfflineConfig) if f.name != "task"]
    names += [f.name for f in dataclasses.fields(DatasetConfig) if f.name not in names]
    for name in names:
        default = defaults.get(name, getattr(DatasetConfig, name, None))
        kind = {"int": int, "float": float, "str": str, "bool": _boolean}.get(type(default).__name__, float)
        if name in ("model", "dataset"):
            text = helps[name] + " (with --dataset/--model: train a local model on local data)"
        else:
            text = f"{helps.get(name, name)} (built-in task default: {default!r})" if name in defaults else helps[name]
        offline.add_argument("--" + name.replace("_", "-"), type=kind, default=None, help=text)
    offline.set_defaults(handler=_run_offline, parser=offline)

    online = modes.add_parser(
        "online", help="online training (Algorithm 1): generate, label, train; built-in task or a local model",
        description="Online VPO (s = +1, π_cal = π_ref) or online DPO (--loss dpo). Each iteration generates pairs "
        "from the policy (and cached reference samples), labels them with a preference oracle (Bradley–Terry on "
        "the built-in task's r*, or --reward-model), and trains. Built-in task: exact SubOpt per iteration and "
        "regret in OUT_DIR/metrics.jsonl. A rerun with the same OUT_DIR resumes (data buffer included).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    from vpo_llm.online import OnlineConfig

    helps = _field_help(OnlineConfig)
    for item in dataclasses.fields(OnlineConfig):
        if item.name == "task":
            continue
        default = getattr(OnlineConfig, item.name, None) if item.default is dataclasses.MISSING else item.default
        kind = {"int": int, "float": float, "str": str, "bool": _boolean}.get(type(default).__name__, float)
        online.add_argument("--" + item.name.replace("_", "-"), type=kind, default=default, help=helps.get(item.name))
    online.set_defaults(handler=_run_online, parser=online)


def _run_offline(args, parser) -> int:
    from vpo_llm.training import DatasetConfig, OfflineConfig, train_offline, train_on_dataset

    given = {k: v for k, v in vars(args).items() if v is not None and k not in ("handler", "parser")}
    local = "model" in given or "dataset" in given
    config_class = DatasetConfig if local else OfflineConfig
    fields = {f.name for f in dataclasses.fields(config_class)}
    unused = sorted(set(given) - fields)
    if unused:
        parser.error(f"flag(s) {', '.join('--' + u.replace('_', '-') for u in unused)} do not apply "
                     f"{'to a local model' if local else 'to the built-in task'}")
    values = {k: v for k, v in given.items() if k in fields}
    if not values.get("out_dir"):
        values["out_dir"] = str(Path("runs") / f"llm-offline-{values.get('loss', 'vpo')}-seed{values.get('seed', 0)}-"
                                               f"{time.strftime('%Y%m%d-%H%M%S')}")
    return _train_and_record(parser, config_class, values, train_on_dataset if local else train_offline)


def _train_and_record(parser, config_class, values: dict, train) -> int:
    """Build the config (a bad value → exit 2), train, print the final row, write OUT_DIR/result.json."""
    from paper_repro.common import atomic_write_json, provenance

    try:
        config = config_class(**values)
    except (ValueError, TypeError) as error:
        parser.error(str(error))
    start = time.time()
    try:
        result = train(config)
    except (FileNotFoundError, ValueError, TypeError) as error:
        parser.error(str(error))
    summary = {k: round(v, 6) if isinstance(v, float) else v for k, v in result["final"].items()}
    if "regret" in result:
        summary["regret"] = round(result["regret"][-1], 6)
    print(json.dumps(summary))
    record = {"config": dataclasses.asdict(config), "history": result["history"], "final": result["final"]}
    if "regret" in result:  # online runs on the built-in task
        record["regret"] = result["regret"]
    atomic_write_json(Path(config.out_dir) / "result.json",
                      record | {"provenance": provenance() | {"wall_time_s": round(time.time() - start, 2)}})
    print(f"wrote {config.out_dir}/metrics.jsonl, result.json, checkpoint.pt")
    return 0


def _run_online(args, parser) -> int:
    from vpo_llm.online import OnlineConfig, train_online

    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(OnlineConfig) if f.name != "task"}
    if not values["out_dir"]:
        values["out_dir"] = str(Path("runs") / f"llm-online-{values['loss']}-seed{values['seed']}-"
                                               f"{time.strftime('%Y%m%d-%H%M%S')}")
    return _train_and_record(parser, OnlineConfig, values, train_online)

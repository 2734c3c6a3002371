"""``vpo llm offline|online ...``: flags are the fields of OfflineConfig / DatasetConfig / OnlineConfig."""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from .messages import as_flags


def _add_config_flags(parser, config_class, other_class=None, *, second_label: str = "") -> None:
    """One flag per field of the config dataclass(es), its help from the field's metadata, its default shown once.

    Flags default to None, so that the run knows which were given; the config's own default applies otherwise.
    Booleans are --flag / --no-flag. With ``other_class`` (the local-data trainer), a field it has with another
    default says so ("…; with --model/--dataset: X").
    """
    from vpo_llm.fields import field_help

    classes = [config_class] + ([other_class] if other_class is not None else [])
    helps, fields = {}, {}
    for cls in classes:
        helps = field_help(cls) | helps
        for item in dataclasses.fields(cls):
            fields.setdefault(item.name, {})[cls] = item
    from vpo_llm.fields import RunFields

    shared = {item.name for item in dataclasses.fields(RunFields)}  # listed after each trainer's own fields
    for name, per_class in sorted(fields.items(), key=lambda pair: pair[0] in shared):
        if name == "task":
            continue
        defaults = {cls: item.default for cls, item in per_class.items()}
        text = helps[name] or name
        if config_class in defaults:
            text += f" (default: {defaults[config_class]!r}"
            if other_class in defaults and defaults[other_class] != defaults[config_class]:
                text += f"; {second_label}: {defaults[other_class]!r}"
            text += ")"
        elif other_class in defaults:
            text += f" ({second_label} only; default: {defaults[other_class]!r})"
        if name == "out_dir":
            text += "; on the command line, empty means runs/<mode>-<loss>-seed<seed>-<time>"
        item = next(iter(per_class.values()))
        flag = "--" + name.replace("_", "-")
        if isinstance(item.default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=text)
        else:
            kind = next((t for t in (int, float, str) if t.__name__ in str(item.type)), str)
            parser.add_argument(flag, type=kind, default=None, help=text)


def add_llm_commands(subparsers) -> None:
    llm = subparsers.add_parser("llm", help="LLM training with vpo_loss (vpo_llm)",
                                description="Train causal LMs with the VPO loss.")
    llm.set_defaults(handler=lambda args, parser: (parser.print_help(), 0)[1], parser=llm)
    modes = llm.add_subparsers(title="modes", metavar="MODE")
    from vpo_llm.online import OnlineConfig
    from vpo_llm.training import DatasetConfig, OfflineConfig

    for mode, (summary, description, configs, handler) in {
        "offline": ("offline training on the built-in enumerable task (exact evaluation), or a local model on local data",
                    "Offline preference training of a tiny Llama on the built-in enumerable task; metrics (exact J, "
                    "SubOpt, KL by enumeration) to OUT_DIR/metrics.jsonl, checkpoints to OUT_DIR/checkpoint.pt (a rerun "
                    "resumes). Users with their own model and data: --model and --dataset (README, 'Your own model "
                    "and data').", (OfflineConfig, DatasetConfig), _run_offline),
        "online": ("online training (Algorithm 1): generate, label, train; built-in task or a local model",
                   "Online VPO (s = +1, π_cal = π_ref) or online DPO (--loss dpo). Each iteration generates pairs from "
                   "the policy (and cached reference samples), labels them with a preference oracle (Bradley–Terry on "
                   "the built-in task's r*, or --reward-model), and trains. Built-in task: the package's loop, exact "
                   "SubOpt per iteration and regret in OUT_DIR/metrics.jsonl. --model: OnlineVPOTrainer (TRL's "
                   "DPOTrainer rounds; OUT_DIR/pairs.jsonl, policy.pt, online_state.json). A rerun with the same "
                   "OUT_DIR resumes (data buffer included).",
                   (OnlineConfig,), _run_online),
    }.items():
        parser = modes.add_parser(mode, help=summary, description=description)
        _add_config_flags(parser, *configs, second_label="with --model/--dataset")
        parser.set_defaults(handler=handler, parser=parser)


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
    _default_out_dir(values, config_class, "offline")
    return _train_and_record(parser, config_class, values, train_on_dataset if local else train_offline)


def _train_and_record(parser, config_class, values: dict, train) -> int:
    """Build the config (a bad value → exit 2), train, print the final row, write OUT_DIR/result.json."""
    from vpo_theory.records import atomic_write_json, check_output, provenance

    fields = {item.name for item in dataclasses.fields(config_class)}  # errors name these as flags
    try:
        config = config_class(**values)
    except (ValueError, TypeError) as error:
        parser.error(as_flags(str(error), fields))
    check_output(parser, "--out-dir", Path(config.out_dir))
    start = time.time()
    try:
        result = train(config)
    except (FileNotFoundError, ValueError, TypeError) as error:
        parser.error(as_flags(str(error), fields))
    summary = {k: round(v, 6) if isinstance(v, float) else v for k, v in result["final"].items()}
    if "regret" in result:
        summary["regret"] = round(result["regret"][-1], 6)
    print(json.dumps(summary))
    record = {"config": dataclasses.asdict(config), "history": result["history"], "final": result["final"]}
    if "regret" in result:  # online runs on the built-in task
        record["regret"] = result["regret"]
    atomic_write_json(Path(config.out_dir) / "result.json",
                      record | {"provenance": provenance() | {"wall_time_s": round(time.time() - start, 2)}})
    print(f"wrote {config.out_dir}/: {', '.join(sorted(p.name for p in Path(config.out_dir).iterdir()))}")
    return 0


def _run_online(args, parser) -> int:
    from vpo_llm.online import OnlineConfig, train_online

    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(OnlineConfig)
              if f.name != "task" and getattr(args, f.name) is not None}
    _default_out_dir(values, OnlineConfig, "online")
    return _train_and_record(parser, OnlineConfig, values, train_online)


def _default_out_dir(values: dict, config_class, mode: str) -> None:
    """An empty --out-dir on the command line names a run folder: runs/llm-MODE-LOSS-seedSEED-TIME."""
    if not values.get("out_dir"):
        loss = values.get("loss", config_class.loss)
        seed = values.get("seed", config_class.seed)
        values["out_dir"] = str(Path("runs") / f"llm-{mode}-{loss}-seed{seed}-{time.strftime('%Y%m%d-%H%M%S')}")

"""``vpo llm offline|online ...``: the flags are the fields of ``OfflineConfig`` / ``OnlineConfig`` and of their
``VPOTerm`` (``vpo_llm.configs``), generated with the configs' own defaults. Only those light modules load while the
flags are parsed: ``--help`` and a bad flag answer before torch or TRL load."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from .config_cli import add_config_flags, given_values
from .messages import as_flags

NESTED = ("term",)
SKIP = ("task",)


def add_llm_commands(subparsers) -> None:
    from vpo_llm.configs import OfflineConfig, OnlineConfig

    llm = subparsers.add_parser("llm", help="LLM training with vpo_loss (vpo_llm)",
                                description="Train causal LMs with the VPO loss, through VPOTrainer / OnlineVPOTrainer.")
    llm.set_defaults(handler=lambda args, parser: (parser.print_help(), 0)[1], parser=llm)
    modes = llm.add_subparsers(title="modes", metavar="MODE")
    for mode, config_class, summary, description in (
            ("offline", OfflineConfig,
             "offline training on the built-in enumerable task (exact evaluation), or a local model on local data",
             "Offline preference training through VPOTrainer: a tiny Llama on the built-in enumerable task, with exact "
             "J, SubOpt and KL by enumeration in OUT_DIR/metrics.jsonl; or your own model and data (--model and "
             "--dataset). Checkpoints are TRL's (OUT_DIR/checkpoint-N); a rerun resumes from the last."),
            ("online", OnlineConfig,
             "online training (Algorithm 1): generate, label, train; built-in task or a local model",
             "Online VPO (s = +1, π_cal = π_ref) or online DPO (--loss dpo) through OnlineVPOTrainer. Each round "
             "generates N responses per prompt from the policy (and the cached π_ref pool), pairs and labels them with "
             "a judge (Bradley–Terry on the built-in task's r*, or --reward-model), and trains on every pair so far. "
             "Built-in task: exact SubOpt per round and the regret. OUT_DIR holds pairs.jsonl (ready for vpo llm "
             "offline --dataset), the buffer, policy.pt and online_state.json; a rerun resumes.")):
        parser = modes.add_parser(mode, help=summary, description=description)
        add_config_flags(parser, config_class, skip=SKIP, nested=NESTED)
        parser.set_defaults(handler=_run, parser=parser, config_class=config_class, mode=mode)


def _run(args, parser) -> int:
    """Build the config (a bad value → exit 2 naming its flag), train, print the final row, write OUT_DIR/result.json."""
    from vpo_theory.records import check_output

    config_class = args.config_class
    values = given_values(args, config_class, skip=SKIP, nested=NESTED)
    if not values.get("out_dir"):
        loss = values.get("loss", "vpo")
        values["out_dir"] = str(Path("runs") / f"llm-{args.mode}-{loss}-seed{values.get('seed', 0)}-"
                                               f"{time.strftime('%Y%m%d-%H%M%S')}")
    try:
        config = config_class(**values)
    except (ValueError, TypeError) as error:
        parser.error(as_flags(str(error)))
    check_output(parser, "--out-dir", Path(config.out_dir))
    try:
        check_inputs(config)  # files checked before torch and TRL load: a bad one answers at once
    except (FileNotFoundError, ValueError, TypeError) as error:
        parser.error(as_flags(str(error)))
    from vpo_theory.records import atomic_write_json, provenance
    from vpo_llm.runs import train_offline, train_online

    start = time.time()
    try:
        result = (train_offline if args.mode == "offline" else train_online)(config)
    except (FileNotFoundError, ValueError, TypeError) as error:
        parser.error(as_flags(str(error)))
    summary = {k: round(v, 6) if isinstance(v, float) else v for k, v in result["final"].items()}
    if "regret" in result:
        summary["regret"] = round(result["regret"][-1], 6)
    print(json.dumps(summary))
    record = {"config": dataclasses.asdict(config), "history": result["history"], "final": result["final"]}
    for key in ("regret", "rows", "rows_dropped"):
        if key in result:
            record[key] = result[key]
    atomic_write_json(Path(config.out_dir) / "result.json",
                      record | {"provenance": provenance() | {"wall_time_s": round(time.time() - start, 2)}})
    print(f"wrote {config.out_dir}/: {', '.join(sorted(p.name for p in Path(config.out_dir).iterdir()))}")
    return 0


def check_inputs(config) -> None:
    """The files a config names: model folders hold a config.json, JSONL files are read line by line (light)."""
    from vpo_llm.data import check_preference_file, load_prompts

    for name in ("model", "reward_model"):
        folder = getattr(config, name, "")
        if folder and not (Path(folder) / "config.json").is_file():
            raise FileNotFoundError(f"`{name}` {folder} is not a Hugging Face model folder (no config.json)")
    required = ("prompt", "chosen", "rejected") + (("calibration",) if config.term.calibration == "column" else ())
    for name in ("dataset", "eval_dataset"):
        if getattr(config, name, ""):
            check_preference_file(getattr(config, name), field=name, required=required)
    if getattr(config, "prompts", ""):
        load_prompts(config.prompts)

"""Training a local Hugging Face model folder on a local JSONL data set through VPOTrainer (nothing downloaded), and
the data checks that name the file, the line and the field."""

from __future__ import annotations

import json
import re

import pytest

pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

pytest.importorskip("trl")

from vpo_llm.data import check_preference_file, load_preference_dataset  # noqa: E402
from vpo_llm.models import load_local_model, save_tiny_model  # noqa: E402
from vpo_llm.configs import OfflineConfig  # noqa: E402
from vpo_llm.runs import train_offline  # noqa: E402
from vpo_llm.term import VPOTerm  # noqa: E402


def DatasetConfig(loss="vpo", calibration="chosen", **fields):  # noqa: N802  (the local-data run, by its fields)
    return OfflineConfig(loss=loss, term=VPOTerm(calibration=calibration), progress=False, **fields)


def train_on_dataset(config):
    return train_offline(config)


@pytest.fixture
def local_model(tmp_path):
    folder = tmp_path / "model"
    save_tiny_model(folder)
    data = tmp_path / "prefs.jsonl"
    rows = [{"prompt": f"w{i % 5}", "chosen": f" w{5 + i % 3} w9", "rejected": f" w{10 + i % 4}",
             "calibration": f" w{i % 7}"} for i in range(12)]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return folder, data


def test_local_folder_and_data_load(local_model):
    folder, data = local_model
    model, tokenizer = load_local_model(folder)
    rows = load_preference_dataset(data)
    assert len(rows) == 12 and rows[2]["chosen"] == " w7 w9"
    assert tokenizer(rows[2]["prompt"] + rows[2]["chosen"])["input_ids"] == [4, 9, 11]  # w2 w7 w9
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_local_model(data.parent / "nowhere")


@pytest.mark.parametrize("loss,calibration", [  # ~5 s each: two in the default run, the rest slow
    ("vpo", "chosen"), ("vpo", "reference"), *[pytest.param(*case, marks=pytest.mark.slow) for case in
                                              [("vpo", "behavior"), ("vpo", "column"), ("dpo", "chosen"), ("ipo", "chosen")]]])
def test_training_on_local_data_lowers_the_held_out_loss(local_model, tmp_path, loss, calibration):
    """Train on the file, evaluate on the same pairs as an eval set: TRL's eval loss falls; the final model is a
    Hugging Face folder that loads back."""
    folder, data = local_model
    config = DatasetConfig(model=str(folder), dataset=str(data), eval_dataset=str(data), loss=loss,
                           calibration=calibration, steps=20, eval_every=10, batch_size=4, learning_rate=3e-3,
                           beta=0.5, out_dir=str(tmp_path / "run"))
    result = train_on_dataset(config)
    evaluations = [row["eval_loss"] for row in result["history"] if "eval_loss" in row]
    assert len(evaluations) == 2 and evaluations[-1] < evaluations[0]
    assert (tmp_path / "run" / "checkpoint-20").is_dir() and result["rows_dropped"] == 0
    load_local_model(tmp_path / "run" / "final")


def test_a_lora_run_saves_only_adapters(local_model, tmp_path):
    pytest.importorskip("peft")
    folder, data = local_model
    config = DatasetConfig(model=str(folder), dataset=str(data), steps=2, eval_every=2, batch_size=4, lora_r=2,
                           out_dir=str(tmp_path / "run"))
    train_on_dataset(config)
    assert (tmp_path / "run" / "final" / "adapter_config.json").exists()


def test_a_rerun_resumes_from_the_last_checkpoint(local_model, tmp_path):
    folder, data = local_model
    fields = dict(model=str(folder), dataset=str(data), eval_every=2, batch_size=4, learning_rate=3e-3,
                  out_dir=str(tmp_path / "run"))
    train_on_dataset(DatasetConfig(steps=2, **fields))
    result = train_on_dataset(DatasetConfig(steps=4, **fields))
    assert [row["step"] for row in result["history"] if "loss" in row] == [2, 4]  # step 2 from the checkpoint


def test_bad_rows_are_refused(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "a", "chosen": "b"}) + "\n")
    with pytest.raises(ValueError, match="rejected"):
        check_preference_file(bad)
    with pytest.raises(ValueError, match="model"):
        DatasetConfig(dataset=str(bad))


def test_cli_trains_a_local_model(local_model, tmp_path):
    from vpo.cli import main

    folder, data = local_model
    out = tmp_path / "cli-run"
    assert main(["llm", "offline", "--model", str(folder), "--dataset", str(data), "--steps", "2",
                 "--eval-every", "2", "--batch-size", "4", "--out-dir", str(out)]) == 0
    assert json.loads((out / "result.json").read_text())["history"][-1]["step"] == 2
    with pytest.raises(SystemExit):
        main(["llm", "offline", "--model", str(folder), "--dataset", str(data), "--calibration", "uniform"])


@pytest.mark.parametrize("line,message", [
    ('{"prompt": "w1", "chosen": " w2"', "line 2 is not valid JSON"),
    ('["w1", " w2", " w3"]', "line 2 is a JSON list, not an object"),
    ('{"prompt": "w1", "chosen": " w2"}', "line 2 lacks ['rejected']"),
    ('{"prompt": "w1", "chosen": 3, "rejected": " w3"}', "line 2: `chosen` must be text or a list of"),
])
def test_bad_rows_name_the_file_the_line_and_the_field(tmp_path, line, message):
    bad = tmp_path / "bad.jsonl"
    good = json.dumps({"prompt": "w1", "chosen": " w2", "rejected": " w3"})
    bad.write_text("\n".join([good, line, good]) + "\n")
    with pytest.raises((ValueError, TypeError), match=re.escape(f"`dataset`: {bad} {message}")):
        check_preference_file(bad)


def test_conversational_rows_are_accepted_and_calibration_can_be_required(tmp_path):
    path = tmp_path / "chat.jsonl"
    row = {"prompt": [{"role": "user", "content": "w1"}], "chosen": [{"role": "assistant", "content": "w2"}],
           "rejected": [{"role": "assistant", "content": "w3"}]}
    path.write_text(json.dumps(row) + "\n")
    assert check_preference_file(path) == 1
    with pytest.raises(ValueError, match=r"line 1 lacks \['calibration'\]"):
        check_preference_file(path, required=("prompt", "chosen", "rejected", "calibration"))


def test_a_malformed_data_line_is_refused_naming_file_line_and_flag(local_model, tmp_path, capsys):
    from vpo.cli import main

    folder, data = local_model
    lines = data.read_text().splitlines()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([lines[0], '{"prompt": "w1", "chosen": " w2"', lines[1]]) + "\n")  # line 2 cut short
    with pytest.raises(SystemExit) as exit_info:
        main(["llm", "offline", "--model", str(folder), "--dataset", str(bad), "--steps", "1",
              "--out-dir", str(tmp_path / "run")])
    assert exit_info.value.code == 2
    message = capsys.readouterr().err
    assert f"{bad} line 2" in message and "dataset" in message and "Traceback" not in message
    empty = tmp_path / "empty_completion.jsonl"  # an empty completion is legal: the response that ends at once
    empty.write_text(json.dumps({"prompt": "w1", "chosen": "", "rejected": " w3"}) + "\n")
    assert check_preference_file(empty) == 1


@pytest.mark.slow  # ~1 min: writes and tokenizes 6,000 rows of 512 tokens
def test_peak_memory_does_not_grow_with_the_number_of_rows(tmp_path):
    """`vpo llm offline --model --dataset` streams batches from a memory-mapped data set: with 5,000 rows of 512
    tokens the peak heap (anonymous resident memory) stays within 20 MiB of 1,000 rows' (measured: 429 vs 437 MiB;
    holding 4,000 more rows' three 512-token int64 sequences alone would take ~47 MiB, their logits for one
    full-data pass gigabytes). The total peak RSS also counts the mapped file's pages once read (625 → 660 MiB)."""
    import sys

    from tests.processes import run_or_fail

    script = __import__("pathlib").Path(__file__).parent / "scripts" / "train_jsonl_rss.py"
    peaks = {}
    for rows in (1000, 5000):
        env = __import__("os").environ | {"HF_DATASETS_CACHE": str(tmp_path / "hf-cache"), "OMP_NUM_THREADS": "1"}
        done = run_or_fail([sys.executable, str(script), str(tmp_path / f"n{rows}"), str(rows)], env)
        peaks[rows] = json.loads(done.stdout.strip().splitlines()[-1])["peak_anonymous_mib"]
    assert peaks[5000] - peaks[1000] < 20, peaks

"""Training a local Hugging Face model folder on a local JSONL data set (nothing downloaded)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from vpo_llm.data import load_preference_rows, tokenize_pairs  # noqa: E402
from vpo_llm.models import load_local_model, save_tiny_model  # noqa: E402
from vpo_llm.training import DatasetConfig, train_on_dataset  # noqa: E402


@pytest.fixture
def local_model(tmp_path):
    folder = tmp_path / "model"
    save_tiny_model(folder)
    data = tmp_path / "prefs.jsonl"
    rows = [{"prompt": f"w{i % 5}", "chosen": f" w{5 + i % 3} w9", "rejected": f" w{10 + i % 4}",
             "calibration": f" w{i % 7}"} for i in range(12)]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return folder, data


def test_local_folder_loads_and_tokenizes(local_model):
    folder, data = local_model
    model, tokenizer = load_local_model(folder)
    rows = load_preference_rows(data)
    ids, attention, completion = tokenize_pairs(tokenizer, rows.prompt, rows.chosen)
    assert ids.shape == attention.shape == completion.shape and int(completion[0].sum()) == 3  # 2 words + EOS
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_local_model(data.parent / "nowhere")


@pytest.mark.parametrize("loss,calibration", [("vpo", "chosen"), ("vpo", "behavior"), ("vpo", "column"),
                                              ("dpo", "chosen")])
def test_training_on_local_data_lowers_the_loss(local_model, tmp_path, loss, calibration):
    folder, data = local_model
    config = DatasetConfig(model=str(folder), dataset=str(data), loss=loss, calibration=calibration, steps=25,
                           eval_every=25, batch_size=4, learning_rate=3e-3, beta=0.5, out_dir=str(tmp_path / "run"))
    result = train_on_dataset(config, progress=False)
    assert result["final"]["loss/full"] < result["history"][0]["loss/full"]
    assert (tmp_path / "run" / "checkpoint.pt").exists()


def test_bad_rows_are_refused(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "a", "chosen": "b"}) + "\n")
    with pytest.raises(ValueError, match="rejected"):
        load_preference_rows(bad)
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
        main(["llm", "offline", "--model", str(folder), "--dataset", str(data), "--calibration", "ref"])


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
    empty = tmp_path / "empty_completion.jsonl"
    empty.write_text(json.dumps({"prompt": "w1", "chosen": " ", "rejected": " w3"}) + "\n")
    with pytest.raises(ValueError, match=r"line 1: `chosen` is an empty completion"):
        load_preference_rows(empty)

"""Train a tiny local model for a few steps on a JSONL file of N rows of ~512 tokens through `vpo llm offline`'s
path (train_offline → VPOTrainer); print this process's peak resident memory (MiB): all of it (ru_maxrss, which
counts the memory-mapped data set's pages once read), and the anonymous part (RssAnon, sampled every 5 ms: the heap
— what would hold the data if it were loaded into memory). argv: folder, N."""

import json
import resource
import sys
import threading
import time
from pathlib import Path

import numpy as np

from vpo_llm.models import TinyLMConfig, save_tiny_model
from vpo_llm.configs import OfflineConfig
from vpo_llm.runs import train_offline

folder, rows = Path(sys.argv[1]), int(sys.argv[2])
peak_anonymous = [0.0]


def sample_anonymous_memory():
    while True:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                peak_anonymous[0] = max(peak_anonymous[0], int(line.split()[1]) / 1024)
        time.sleep(0.005)


threading.Thread(target=sample_anonymous_memory, daemon=True).start()
save_tiny_model(folder / "model", num_words=14, config=TinyLMConfig(vocab_size=16, max_position_embeddings=1024))
rng = np.random.default_rng(0)
with (folder / "data.jsonl").open("w") as out:
    for _ in range(rows):  # 256 prompt words, 255 per completion (+ EOS): 512-token sequences
        words = lambda n: " ".join(f"w{k}" for k in rng.integers(14, size=n))  # noqa: E731
        out.write(json.dumps({"prompt": words(256), "chosen": " " + words(255), "rejected": " " + words(255)}) + "\n")
config = OfflineConfig(model=str(folder / "model"), dataset=str(folder / "data.jsonl"), steps=3, eval_every=3,
                       batch_size=2, max_length=512, out_dir=str(folder / "run"), progress=False)
result = train_offline(config)
assert result["rows"] == rows and result["rows_dropped"] == 0
time.sleep(0.05)
print(json.dumps({"rows": rows, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "peak_anonymous_mib": peak_anonymous[0]}))

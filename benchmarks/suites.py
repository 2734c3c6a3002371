"""Speed suites behind ``vpo bench``: ratios measured side by side in one run.

Each A/B pair is timed interleaved (A, B, A, B, …) after a warm-up, and the ratio of the
medians is reported, so machine load affects both sides alike. Times are wall-clock seconds
on whatever machine runs it; only the ratios are meant to be compared.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable

import numpy as np


def interleaved(a: Callable[[], object], b: Callable[[], object], *, repeats: int, warmup: int = 1) -> dict:
    """Median times of a and b, timed alternately; returns {"a_s", "b_s", "ratio" = a/b}."""
    for _ in range(warmup):
        a()
        b()
    times_a, times_b = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        a()
        times_a.append(time.perf_counter() - start)
        start = time.perf_counter()
        b()
        times_b.append(time.perf_counter() - start)
    a_s, b_s = statistics.median(times_a), statistics.median(times_b)
    return {"a_s": a_s, "b_s": b_s, "ratio": a_s / b_s}


def saved_activation_bytes(step: Callable[[], object]) -> int:
    """Bytes of the tensors autograd saves for backward during ``step`` (each storage counted once).

    This is the activation memory a training step holds at its peak, beyond the weights and
    optimizer state both sides share; unlike process RSS it is exact and repeatable on CPU.
    On CUDA, ``peak_memory`` below also reports ``torch.cuda.max_memory_allocated``.
    """
    import torch

    seen: dict[int, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        step()
    return sum(seen.values())


def peak_memory(step: Callable[[], object]) -> dict:
    """{"saved_bytes": …} and, on CUDA, {"cuda_peak_bytes": …} for one call of ``step``."""
    import torch

    out = {"saved_bytes": saved_activation_bytes(step)}
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        step()
        torch.cuda.synchronize()
        out["cuda_peak_bytes"] = torch.cuda.max_memory_allocated()
    return out


# --------------------------------------------------------------------------- theory
def theory_solver_vs_cvxpy(quick: bool) -> dict:
    """Pessimistic VPO fit (s = −1, bounded tabular class): the cvxpy program vs our solver.

    The target key is the cold fit (no warm start), the fair comparison; ``_warm_round`` is the
    online-style update from the previous round's fit.
    """
    import vpo_theory as vt
    from vpo_theory.cvx import fit_vpo_cvxpy

    instance = vt.make_instance("tabular-small", 0)
    data = vt.sample_preferences(np.random.default_rng(0), instance.rho, instance.pi_ref, instance.reward, 500)
    args = (*data.astuple(), instance.pi_ref, instance.rho, instance.beta, np.sqrt(500))
    ours = lambda: vt.fit_vpo(*args, -1, instance.pi_ref, 2.0)  # noqa: E731
    cvxpy = lambda: fit_vpo_cvxpy(*args, instance.pi_ref, 2.0)  # noqa: E731
    # ours takes ~1 ms: its median needs more samples than the 30 ms cvxpy call to be stable
    result = interleaved(cvxpy, ours, repeats=10 if quick else 30)
    # a round's update: the data grew by 5 pairs since the last fit, which warm-starts ours (cvxpy's
    # interior-point solver cannot be warm-started)
    previous = vt.fit_vpo(*(a[:-5] for a in data.astuple()), instance.pi_ref, instance.rho, instance.beta,
                          np.sqrt(495), -1, instance.pi_ref, 2.0)
    warm = interleaved(cvxpy, lambda: vt.fit_vpo(*args, -1, instance.pi_ref, 2.0, init=previous),
                       repeats=10 if quick else 30)
    # the same comparison on a larger tabular problem (40 contexts × 12 responses, N = 5000): our cost is
    # mostly fixed per-call overhead, cvxpy's grows with the program's size
    rng = np.random.default_rng(1)
    pi_ref = rng.dirichlet(np.ones(12), size=40)
    rho = np.full(40, 1 / 40)
    reward = rng.normal(size=(40, 12))
    big = vt.sample_preferences(rng, rho, pi_ref, reward, 5000)
    big_args = (*big.astuple(), pi_ref, rho, 0.5, np.sqrt(5000))
    sizes = {}
    for label, bound in (("40x12", 8.0), ("40x12_bound_active", 4.0)):  # |r̂| ≤ 6.6: bound 8 inactive, 4 active
        timing = interleaved(lambda: fit_vpo_cvxpy(*big_args, pi_ref, bound),
                             lambda: vt.fit_vpo(*big_args, -1, pi_ref, bound), repeats=2 if quick else 5)
        sizes[f"theory_vpo_vs_cvxpy_speedup_{label}"] = timing["ratio"]
        sizes[f"theory_vpo_fit_{label}_s"] = timing["b_s"]
    return {"theory_vpo_vs_cvxpy_speedup": result["ratio"], "theory_vpo_fit_s": result["b_s"],
            "theory_cvxpy_fit_s": result["a_s"], "theory_vpo_vs_cvxpy_speedup_warm_round": warm["ratio"],
            "theory_vpo_fit_warm_round_s": warm["b_s"], **sizes}


def theory_round_cost(quick: bool) -> dict:
    """Per-round cost of the online VPO loop at t ≈ 10⁴ vs t ≈ 10² (pair counts make it flat in t).

    Medians over 100 rounds around each t, in one run, so both windows see the same machine. The
    run is the same in ``--quick`` (the key is defined at 10⁴ rounds; it takes ~25 s). Also
    reported: the local step's SLSQP iterations and objective evaluations per round in each
    window — the evaluations are what once grew with t.
    """
    import scipy.optimize

    import vpo_theory as vt

    early, late = 100, 10_000
    counts: list[tuple[int, int]] = []
    minimize = scipy.optimize.minimize

    def counted(*args, **kwargs):  # the local step imports scipy's minimize at call time: count its work
        result = minimize(*args, **kwargs)
        counts.append((result.nit, result.nfev))
        return result

    scipy.optimize.minimize = counted
    try:
        result = vt.run_online(vt.make_instance("tabular-small", 0), "vpo", late + 50, 0)
    finally:
        scipy.optimize.minimize = minimize
    seconds = result.round_seconds
    window = lambda values, t: float(np.median(values[t - 50:t + 50]))  # noqa: E731
    # one local step per round after the first (one stale context), which solves every context from several starts
    per_round = np.array(counts[len(counts) - (len(seconds) - 1):], dtype=float)  # (T − 1, 2), round t at t − 2
    return {"theory_round_cost_growth": window(seconds, late) / window(seconds, early),
            "theory_round_s_early": window(seconds, early), "theory_round_s_late": window(seconds, late),
            "theory_round_slsqp_iterations_early": window(per_round[:, 0], early - 2),
            "theory_round_slsqp_iterations_late": window(per_round[:, 0], late - 2),
            "theory_round_evaluations_early": window(per_round[:, 1], early - 2),
            "theory_round_evaluations_late": window(per_round[:, 1], late - 2), "theory_round_t": [early, late]}


# --------------------------------------------------------------------------- LLM
def _llm_step(config, model, optimizer, task, ref_table, ref_samples, data):
    import torch

    from vpo_llm.training import _batch_loss

    x, winner, loser = data
    torch.manual_seed(0)
    batch = torch.randint(0, len(x), (config.batch_size,))
    beta = config.beta if config.beta is not None else config.task.beta
    loss, _ = _batch_loss(model, task, config, beta, ref_table, ref_samples, x[batch], winner[batch], loser[batch])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def llm_steps(quick: bool) -> dict:
    """One optimizer step of VPO (π_cal = chosen; cached reference samples) vs DPO, same model and batch."""
    import dataclasses

    import torch

    import vpo_theory as vt
    from vpo_llm.models import TinyLMConfig, tiny_causal_lm
    from vpo_llm.tasks import EnumerableTask, TaskConfig
    from vpo_llm.training import OfflineConfig, _reference_samples

    task_config = TaskConfig(num_prompts=8, response_vocab=8, response_length=4)
    task = EnumerableTask(task_config)
    model = tiny_causal_lm(TinyLMConfig(vocab_size=task_config.vocab_size, hidden_size=128, intermediate_size=256,
                                        num_hidden_layers=4))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    with torch.no_grad():
        ref_table = task.policy_logps(model)
    pi_ref = task.policy_table(model)
    data = vt.sample_preferences(np.random.default_rng(0), task.rho, pi_ref, task.reward, 256)
    tensors = tuple(torch.as_tensor(a) for a in data.astuple())
    base = OfflineConfig(batch_size=32, task=task_config, ref_samples_per_prompt=1)
    ref_samples = _reference_samples(np.random.default_rng(1), pi_ref, 1)
    step = lambda cfg: (lambda: _llm_step(cfg, model, optimizer, task, ref_table, ref_samples, tensors))  # noqa: E731
    repeats = 5 if quick else 20
    chosen = interleaved(step(dataclasses.replace(base, loss="vpo", calibration="chosen")),
                         step(dataclasses.replace(base, loss="dpo")), repeats=repeats)
    samples = interleaved(step(dataclasses.replace(base, loss="vpo", calibration="ref")),
                          step(dataclasses.replace(base, loss="dpo")), repeats=repeats)
    memory = {name: peak_memory(step(dataclasses.replace(base, **change)))["saved_bytes"]
              for name, change in (("dpo", {"loss": "dpo"}), ("chosen", {"loss": "vpo", "calibration": "chosen"}),
                                   ("ref", {"loss": "vpo", "calibration": "ref"}))}
    return {"llm_vpo_over_dpo_step_chosen": chosen["ratio"], "llm_vpo_over_dpo_step_refsamples": samples["ratio"],
            "llm_dpo_step_s": chosen["b_s"], "llm_refsamples_per_pair": 1,
            "llm_vpo_over_dpo_memory_chosen": memory["chosen"] / memory["dpo"],
            "llm_vpo_over_dpo_memory_refsamples": memory["ref"] / memory["dpo"],
            "llm_dpo_step_saved_bytes": memory["dpo"]}


def llm_vs_trl(quick: bool) -> dict:
    """Our offline VPO step vs TRL DPOTrainer (["sigmoid", "sft"]) on the same tiny model, batch and dtype."""
    import tempfile

    import datasets
    import tokenizers
    import torch
    import trl
    from transformers import PreTrainedTokenizerFast

    from vpo_llm.logprobs import sequence_logps
    from vpo_llm.losses import vpo_loss
    from vpo_llm.models import TinyLMConfig, tiny_causal_lm

    words = ["<pad>", "<eos>"] + [f"w{i}" for i in range(30)]
    backend = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab={w: i for i, w in enumerate(words)},
                                                               unk_token="<pad>"))
    backend.pre_tokenizer = tokenizers.pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="<eos>")
    rng = np.random.default_rng(0)
    sentence = lambda n: " ".join(f"w{i}" for i in rng.integers(0, 30, n))  # noqa: E731
    rows = {"prompt": [sentence(6) for _ in range(32)], "chosen": [" " + sentence(8) for _ in range(32)],
            "rejected": [" " + sentence(8) for _ in range(32)]}
    size = TinyLMConfig(vocab_size=len(words), hidden_size=128, intermediate_size=256, num_hidden_layers=4)
    model, reference = tiny_causal_lm(size), tiny_causal_lm(dataclasses_replace(size, seed=1))
    with tempfile.TemporaryDirectory() as folder:
        config = trl.DPOConfig(output_dir=folder, loss_type=["sigmoid", "sft"], loss_weights=[1.0, 0.1], beta=0.1,
                               per_device_train_batch_size=32, report_to=[], use_cpu=True)
        trainer = trl.DPOTrainer(model=model, ref_model=reference, args=config,
                                 train_dataset=datasets.Dataset.from_dict(rows), processing_class=tokenizer)
        batch = next(iter(trainer.get_train_dataloader()))
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
        ids, attention, completion = batch["input_ids"], batch["attention_mask"], batch["completion_mask"]
        with torch.no_grad():  # our trainers compute the frozen reference's log-probs once, not every step
            ref_chosen, ref_rejected = sequence_logps(reference, ids, attention, completion).chunk(2)
        lengths = completion.sum(1).float().chunk(2)[0]

        def ours():
            chosen, rejected = sequence_logps(model, ids, attention, completion).chunk(2)
            loss, _ = vpo_loss(chosen, rejected, ref_chosen, ref_rejected, chosen, ref_chosen, beta=0.1, alpha=1.0,
                               sign=-1, cal_token_counts=lengths, cal_weights=lengths, cal_normalization="token_mean")
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        def theirs():
            loss = trainer.compute_loss(model, batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        result = interleaved(ours, theirs, repeats=5 if quick else 20)
        memory_ours, memory_trl = peak_memory(ours)["saved_bytes"], peak_memory(theirs)["saved_bytes"]
    return {"llm_ours_over_trl_dpo_step": result["ratio"], "llm_ours_step_s": result["a_s"],
            "llm_trl_step_s": result["b_s"], "llm_ours_over_trl_memory": memory_ours / memory_trl}


PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12}  # dense, per GPU


def llm_cuda_throughput(quick: bool) -> dict:
    """On a CUDA device: tokens/s of one VPO step (π_cal = ref samples) in bfloat16, and an MFU estimate.

    MFU = 6 · parameters · tokens/s / the device's dense bf16 peak (the 6·N·D rule for a
    forward and backward pass; attention FLOPs ignored, so it is a slight underestimate).
    """
    import torch

    if not torch.cuda.is_available():
        return {"llm_cuda_skipped": "no CUDA device"}
    from vpo_llm.logprobs import sequence_logps
    from vpo_llm.losses import vpo_loss
    from vpo_llm.models import TinyLMConfig, tiny_causal_lm

    device = torch.device("cuda")
    size = TinyLMConfig(vocab_size=32000, hidden_size=1024, intermediate_size=2816, num_hidden_layers=8,
                        num_attention_heads=16, num_key_value_heads=8, max_position_embeddings=1024)
    model = tiny_causal_lm(size, dtype=torch.bfloat16).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    batch, length, prompt = 16, 512, 256
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, size.vocab_size, (3 * batch, length), generator=generator).to(device)  # chosen, rejected, cal
    attention = torch.ones_like(ids)
    response = torch.zeros_like(ids)
    response[:, prompt:] = 1
    ref = torch.randn(3 * batch, device=device, dtype=torch.float32) - 200.0

    def step():
        logps = sequence_logps(model, ids, attention, response).float()
        chosen, rejected, cal = logps.chunk(3)
        ref_chosen, ref_rejected, ref_cal = ref.chunk(3)
        loss, _ = vpo_loss(chosen, rejected, ref_chosen, ref_rejected, cal, ref_cal, beta=0.1, alpha=0.05, sign=1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(3):
        step()
    torch.cuda.synchronize()
    repeats = 5 if quick else 20
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / repeats
    tokens_per_s = ids.numel() / seconds
    parameters = sum(p.numel() for p in model.parameters())
    name = torch.cuda.get_device_name()
    peak = next((flops for key, flops in PEAK_BF16_FLOPS.items() if key in name), None)
    memory = peak_memory(step)
    return {"llm_cuda_device": name, "llm_cuda_step_s": seconds, "llm_cuda_tokens_per_s": tokens_per_s,
            "llm_cuda_parameters": parameters, "llm_cuda_peak_bytes": memory.get("cuda_peak_bytes"),
            "llm_cuda_mfu": 6 * parameters * tokens_per_s / peak if peak else None}


def dataclasses_replace(instance, **changes):
    import dataclasses

    return dataclasses.replace(instance, **changes)


SUITES = [theory_solver_vs_cvxpy, theory_round_cost, llm_steps, llm_vs_trl, llm_cuda_throughput]

TARGETS = {  # key: (comparison, target) from the benchmark issue
    "theory_vpo_vs_cvxpy_speedup": (">=", 20.0),
    "theory_round_cost_growth": ("<=", 1.5),
    "llm_vpo_over_dpo_step_chosen": ("<=", 1.10),
    "llm_vpo_over_dpo_step_refsamples": ("<=", 1.6),
    "llm_ours_over_trl_dpo_step": ("<=", 1.0),
}


def run(quick: bool, log=print) -> dict:
    import platform

    import torch

    result = {"quick": quick, "machine": platform.machine(), "threads": torch.get_num_threads()}
    for suite in SUITES:
        start = time.perf_counter()
        try:
            result.update(suite(quick))
        except ImportError as error:  # e.g. TRL not installed: that suite is skipped, and says so
            result[f"{suite.__name__}_skipped"] = str(error)
        log(f"[bench] {suite.__name__}: {time.perf_counter() - start:.1f}s")
    result["targets_met"] = {key: (result[key] >= target if op == ">=" else result[key] <= target)
                             for key, (op, target) in TARGETS.items() if key in result}
    return result

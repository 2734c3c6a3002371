"""Speed suites behind ``vpo bench``: ratios measured side by side in one run.

Each A/B pair is timed interleaved (A, B, A, B, …) after a warm-up, and the ratio of the
medians is reported, so machine load affects both sides alike. Times are wall-clock seconds
on whatever machine runs it; only the ratios are meant to be compared.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
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
    ours = lambda: vt.fit_vpo(instance, data, alpha=np.sqrt(500), sign=-1, pi_cal=instance.pi_ref, bound=2.0)  # noqa: E731
    cvxpy = lambda: fit_vpo_cvxpy(*args, instance.pi_ref, 2.0)  # noqa: E731
    # ours takes ~1 ms: its median needs more samples than the 30 ms cvxpy call to be stable
    result = interleaved(cvxpy, ours, repeats=10 if quick else 30)
    # a round's update: the data grew by 5 pairs since the last fit, which warm-starts ours (cvxpy's
    # interior-point solver cannot be warm-started)
    previous = vt.fit_vpo(instance, data.head(len(data) - 5), alpha=np.sqrt(495), sign=-1, pi_cal=instance.pi_ref,
                          bound=2.0)
    warm = interleaved(cvxpy, lambda: vt.fit_vpo(instance, data, alpha=np.sqrt(500), sign=-1, pi_cal=instance.pi_ref,
                                                 bound=2.0, init=previous),
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
    for key, bound in (("theory_vpo_vs_cvxpy_speedup_40x12", 8.0),  # |r̂| ≤ 6.6: bound 8 inactive, 4 active
                       ("theory_vpo_vs_cvxpy_speedup_40x12_bound_active", 4.0)):
        timing = interleaved(lambda: fit_vpo_cvxpy(*big_args, pi_ref, bound),
                             lambda: vt.fit_vpo(vt.Problem(pi_ref, rho, 0.5), big, alpha=np.sqrt(5000), sign=-1,
                                                pi_cal=pi_ref, bound=bound), repeats=2 if quick else 5)
        sizes[key] = timing["ratio"]
        sizes[key.replace("vs_cvxpy_speedup", "fit") + "_s"] = timing["b_s"]
    return {"theory_vpo_vs_cvxpy_speedup": result["ratio"], "theory_vpo_fit_s": result["b_s"],
            "theory_cvxpy_fit_s": result["a_s"], "theory_vpo_vs_cvxpy_speedup_warm_round": warm["ratio"],
            "theory_vpo_fit_warm_round_s": warm["b_s"], **sizes}


def _data_stream(instance, rounds: int, seed: int = 0) -> np.ndarray:
    """(rounds, 3) comparisons (x, winner, loser): y¹, y² ~ π_ref, Bradley–Terry labels from the truth."""
    import vpo_theory as vt

    rng = np.random.default_rng(seed)
    x, first, second = vt.data.sample_pairs(rng, instance.rho, instance.pi_ref, instance.pi_ref, rounds)
    pairs = vt.data.label_pairs(rng, instance.reward, x, first, second)
    return np.stack([pairs.x, pairs.winner, pairs.loser], axis=1)


def _online_steps(instance, stream, t_values, method: str, alpha: float, bound: float) -> tuple[list, list]:
    """Time the optimistic step of the context that got comparison t, warm-started from that context's last
    fit (its point and, for "certified", its partition), as ``run_online`` does. Returns (seconds, fits)."""
    import vpo_theory as vt

    X, Y = instance.pi_ref.shape
    counts = np.zeros((X, Y, Y))
    for x, winner, loser in stream[: t_values[0] - 1]:
        counts[x, winner, loser] += 1
    last: dict = {}
    seconds, fits = [], []
    for t in t_values:
        x, winner, loser = stream[t - 1]
        counts[x, winner, loser] += 1
        problem = vt.Problem(instance.pi_ref[x:x + 1], [1.0], instance.beta)
        start = time.perf_counter()
        fit = vt.fit_vpo(problem, counts[x:x + 1].copy(), alpha=alpha * instance.rho[x], sign=+1,
                         pi_cal=instance.pi_ref[x:x + 1], bound=bound, init=last.get(x), method=method)
        seconds.append(time.perf_counter() - start)
        fits.append(fit)
        last[x] = fit
    return seconds, fits


def theory_round_cost(quick: bool) -> dict:
    """Per-round cost of the online VPO step at t ≈ 10⁴ vs t ≈ 10², certified (pair counts keep it flat in t).

    The data: a stream of 10⁴ + 50 comparisons (π_ref pairs, BT labels; tabular-small). At each window
    (t ∈ [10² − 25, 10² + 25) and [10⁴ − 25, 10⁴ + 25)) every round's certified step is timed, warm-started
    from the same context's previous fit as in ``run_online``; the medians are compared. Also reported:
    how many of those steps were certified and the cells they examined.
    """
    import vpo_theory as vt

    instance = vt.make_instance("tabular-small", 0)
    early, late = 100, 10_000
    stream = _data_stream(instance, late + 25)
    alpha, bound = 0.1 * np.sqrt(late), instance.class_bound
    result = {}
    for label, t in (("early", early), ("late", late)):
        # the previous fits of each context first (not timed), then the window
        _, fits = _online_steps(instance, stream, list(range(t - 75, t + 25)), "certified", alpha, bound)
        seconds, window_fits = _online_steps(instance, stream, list(range(t - 25, t + 25)), "certified", alpha, bound)
        result[f"theory_round_s_{label}"] = float(np.median(seconds))
        result[f"theory_round_certified_{label}"] = f"{sum(f.certified for f in window_fits)}/{len(window_fits)}"
        result[f"theory_round_cells_{label}"] = float(np.median([f.cells for f in window_fits]))
    result["theory_round_cost_growth"] = result["theory_round_s_late"] / result["theory_round_s_early"]
    result["theory_round_t"] = [early, late]
    return result


def theory_certified_step(quick: bool) -> dict:
    """The certified optimistic step against the heuristic it replaced, and against one cvxpy solve.

    - tabular-small, rounds t ∈ [75, 125) of a π_ref data stream: the certified step (warm partition) vs the
      old default's warm local SQP step, each warm-started from its own previous fit; medians.
    - linear-d8 (k = 8), N = 600 comparisons: one certified fit vs one cvxpy pessimistic fit of the same
      size, and the same at N = 100, where only the budget-limited search runs (reported with its gap).
    """
    import vpo_theory as vt
    from vpo_theory.cvx import fit_vpo_cvxpy

    instance = vt.make_instance("tabular-small", 0)
    stream = _data_stream(instance, 200)
    alpha, bound = 0.1 * np.sqrt(600), instance.class_bound
    window = list(range(50, 125))
    certified, _ = _online_steps(instance, stream, window, "certified", alpha, bound)
    local, _ = _online_steps(instance, stream, window, "local", alpha, bound)
    result = {"theory_certified_over_heuristic_step": float(np.median(certified[25:]) / np.median(local[25:])),
              "theory_certified_step_s": float(np.median(certified[25:])),
              "theory_heuristic_step_s": float(np.median(local[25:]))}
    linear = vt.make_instance("linear-d8", 0)
    for size, key in ((600, "theory_certified_linear_over_cvxpy"), (100, "theory_certified_linear_over_cvxpy_N100")):
        data = vt.sample_preferences(np.random.default_rng(size), linear.rho, linear.pi_ref, linear.reward, size)
        args = (*data.astuple(), linear.pi_ref, linear.rho, linear.beta)
        fits = []
        timing = interleaved(
            lambda: fits.append(vt.fit_vpo(linear, data, alpha=0.1 * np.sqrt(600), sign=+1, pi_cal=linear.pi_ref,
                                           bound=linear.class_bound)),
            lambda: fit_vpo_cvxpy(*args, np.sqrt(size), linear.pi_ref, linear.class_bound, features=linear.features),
            repeats=2 if quick else 5)
        result[key] = timing["ratio"]
        result[key.replace("over_cvxpy", "s")] = timing["a_s"]
        result[key.replace("over_cvxpy", "certified")] = bool(fits[-1].certified)
        result[key.replace("over_cvxpy", "gap")] = float(fits[-1].gap)
    return result


#: The shapes the Y-scaling suite measures: responses, and how peaked π_ref is.
SCALING_RESPONSES = (6, 8, 10, 12)
SCALING_COMPARISONS = (0, 10, 50, 200)


def _scaling_problem(Y: int, peaked: bool, comparisons: int, seed: int):
    """One context, Y responses: a uniform π_ref or a peaked one (0.98 spread over Y − 2 responses of reward 0, 0.015
    and 0.005 on rewards 0.5 and 1), rewards in [0, 1], B = 2, β = 0.5; `comparisons` pairs from π_ref."""
    import vpo_theory as vt

    if peaked:
        pi_ref = np.array([[0.98 / (Y - 2)] * (Y - 2) + [0.015, 0.005]])
        reward = np.array([[0.0] * (Y - 2) + [0.5, 1.0]])
    else:
        pi_ref = np.full((1, Y), 1.0 / Y)
        reward = np.random.default_rng(seed).uniform(0, 1, size=(1, Y))
    instance = vt.BanditInstance(np.ones(1), pi_ref, reward, 0.5, bound=2.0)
    data = vt.sample_preferences(np.random.default_rng(seed), instance.rho, pi_ref, reward, comparisons)
    return instance, data


def theory_certified_scaling(quick: bool) -> dict:
    """The certified optimistic step as the number of responses grows: Y = 6, 8, 10, 12 responses in one context,
    uniform and peaked references, 0–200 comparisons from π_ref, α = 0.1·√400 (a 400-round run's), the default time
    budget (``DEFAULT_STEP_SECONDS``). Per (Y, reference): the certified step's median time over the heuristic warm SQP
    step's in the same run (``…_over_heuristic``), the fraction of fits certified within the budget and the largest
    gap (docs/theory.md §10, "What it costs")."""
    import vpo_theory as vt
    from vpo_theory.online import DEFAULT_STEP_SECONDS

    result = {}
    sizes = SCALING_RESPONSES[:2] if quick else SCALING_RESPONSES
    comparisons = SCALING_COMPARISONS[::2] if quick else SCALING_COMPARISONS
    for Y in sizes:
        for peaked in (False, True):
            key = f"theory_certified_y{Y}_{'peaked' if peaked else 'uniform'}"
            certified, heuristic, closed, gaps = [], [], 0, []
            for n in comparisons:
                instance, data = _scaling_problem(Y, peaked, n, seed=Y)
                options = {"alpha": 0.1 * np.sqrt(400), "sign": +1, "pi_cal": instance.pi_ref,
                           "bound": instance.class_bound}
                timing = interleaved(
                    lambda: certified.append(vt.fit_vpo(instance, data, max_seconds=DEFAULT_STEP_SECONDS, **options)),
                    lambda: heuristic.append(vt.fit_vpo(instance, data, method="local", **options)),
                    repeats=1, warmup=0)
                result[f"{key}_n{n}_s"] = timing["a_s"]
                result[f"{key}_n{n}_heuristic_s"] = timing["b_s"]
                closed += bool(certified[-1].certified)
                gaps.append(float(certified[-1].gap))
            steps = np.array([result[f"{key}_n{n}_s"] for n in comparisons])
            local = np.array([result[f"{key}_n{n}_heuristic_s"] for n in comparisons])
            result[f"{key}_over_heuristic"] = float(np.median(steps) / np.median(local))
            result[f"{key}_certified_fraction"] = closed / len(comparisons)
            result[f"{key}_max_gap"] = max(gaps)
    result["theory_certified_scaling_comparisons"] = list(comparisons)
    return result


# --------------------------------------------------------------------------- LLM
def _tiny_preference_setup():
    """The TRL comparisons' shared inputs: a 32-word local tokenizer, 32 random preference rows (prompts of 6 words,
    completions of 8), and a 4-layer tiny Llama config of width 128."""
    from vpo_llm.models import TinyLMConfig, word_tokenizer

    tokenizer = word_tokenizer(30)
    rng = np.random.default_rng(0)
    sentence = lambda n: " ".join(f"w{i}" for i in rng.integers(0, 30, n))  # noqa: E731
    rows = {"prompt": [sentence(6) for _ in range(32)], "chosen": [" " + sentence(8) for _ in range(32)],
            "rejected": [" " + sentence(8) for _ in range(32)]}
    return tokenizer, rows, TinyLMConfig(vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256,
                                         num_hidden_layers=4)


def llm_vs_trl(quick: bool) -> dict:
    """Our offline VPO step vs TRL DPOTrainer (["sigmoid", "sft"]) on the same tiny model, batch and dtype."""
    import tempfile

    import datasets
    import torch
    import trl

    from vpo_llm.logprobs import sequence_logps
    from vpo_llm.losses import vpo_loss
    from vpo_llm.models import tiny_causal_lm

    tokenizer, rows, size = _tiny_preference_setup()
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


def llm_vpotrainer_vs_dpotrainer(quick: bool) -> dict:
    """A VPOTrainer step / a DPOTrainer step: same tiny Llama, batch of 32, precompute_ref_log_probs on both sides.

    π_cal = ``chosen`` and ``behavior`` reuse the batch's own forward, so the extra cost is the calibration term
    alone; ``reference`` adds one policy forward and backward over one cached π_ref sample per pair (up to 9 tokens,
    the completions' length with EOS; its log π_ref is cached when the trainer is built). The memory ratio is of
    the tensors autograd saves.
    """
    import tempfile

    import datasets
    import torch
    import trl

    from vpo_llm import VPOConfig, VPOTrainer
    from vpo_llm.models import tiny_causal_lm

    tokenizer, rows, size = _tiny_preference_setup()
    result = {}
    with tempfile.TemporaryDirectory() as folder:
        common = {"output_dir": folder, "beta": 0.1, "per_device_train_batch_size": 32, "report_to": [],
                  "use_cpu": True, "precompute_ref_log_probs": True}
        steps = {}
        for name, trainer_class, config in [
                ("dpo", trl.DPOTrainer, trl.DPOConfig(**common)),
                ("chosen", VPOTrainer, VPOConfig(**common, vpo_alpha=0.5, vpo_calibration="chosen")),
                ("behavior", VPOTrainer, VPOConfig(**common, vpo_alpha=0.5, vpo_calibration="behavior")),
                ("reference", VPOTrainer, VPOConfig(**common, vpo_alpha=0.5, vpo_calibration="reference",
                                                    vpo_reference_max_new_tokens=9))]:
            model = tiny_causal_lm(size)
            trainer = trainer_class(model=model, ref_model=tiny_causal_lm(dataclasses_replace(size, seed=1)),
                                    args=config, train_dataset=datasets.Dataset.from_dict(rows),
                                    processing_class=tokenizer)
            batch = next(iter(trainer.get_train_dataloader()))
            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

            def step(trainer=trainer, model=model, batch=batch, optimizer=optimizer):
                loss = trainer.compute_loss(model, batch)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()

            steps[name] = step
        for name, (step_key, memory_key) in {
                "chosen": ("llm_vpotrainer_over_dpotrainer_step_chosen", "llm_vpotrainer_over_dpotrainer_memory_chosen"),
                "behavior": ("llm_vpotrainer_over_dpotrainer_step_behavior",
                             "llm_vpotrainer_over_dpotrainer_memory_behavior"),
                "reference": ("llm_vpotrainer_over_dpotrainer_step_reference",
                              "llm_vpotrainer_over_dpotrainer_memory_reference")}.items():
            result[step_key] = interleaved(steps[name], steps["dpo"], repeats=5 if quick else 20)["ratio"]
            result[memory_key] = peak_memory(steps[name])["saved_bytes"] / peak_memory(steps["dpo"])["saved_bytes"]
    return result


def llm_online_round_cost(quick: bool) -> dict:
    """OnlineVPOTrainer on the built-in task, 16 rounds of 8 new pairs and 4 optimizer steps each (the buffer grows to
    128 pairs): the fit time of round 16 / round 2 (medians of rounds 15–16 and 2–3; ``fit_seconds`` of the rounds'
    history). Each pair's reference work is done once, when it enters the buffer, so the rounds should cost the same;
    re-scoring the buffer every round made the reference's work grow with it."""
    from vpo_llm.configs import OnlineConfig, TaskConfig
    from vpo_llm.runs import train_online

    history = train_online(OnlineConfig(iterations=16, prompts_per_iteration=8, steps_per_iteration=4, batch_size=8,
                                        reference_pretrain_steps=0, progress=False,
                                        task=TaskConfig(num_prompts=4, response_vocab=4, response_length=2)))["history"]
    seconds = [row["fit_seconds"] for row in history]
    late, early = np.median(seconds[-2:]), np.median(seconds[1:3])
    return {"llm_online_round_cost_growth": float(late / early), "llm_online_round_s": float(early)}


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


SUITES = [theory_solver_vs_cvxpy, theory_round_cost, theory_certified_step, theory_certified_scaling, llm_vs_trl,
          llm_vpotrainer_vs_dpotrainer, llm_online_round_cost, llm_cuda_throughput]

TARGETS = {  # key: (comparison, target) from the benchmark issue
    "theory_vpo_vs_cvxpy_speedup": (">=", 20.0),
    "theory_round_cost_growth": ("<=", 1.5),
    "theory_certified_over_heuristic_step": ("<=", 3.0),
    "theory_certified_linear_over_cvxpy": ("<=", 10.0),
    "theory_vpo_vs_cvxpy_speedup_40x12_bound_active": (">=", 10.0),
    "llm_ours_over_trl_dpo_step": ("<=", 1.0),
    "llm_online_round_cost_growth": ("<=", 1.3),
    "llm_vpotrainer_over_dpotrainer_step_chosen": ("<=", 1.05),
    "llm_vpotrainer_over_dpotrainer_step_reference": ("<=", 1.5),
}


RESULTS = Path(__file__).with_name("results.json")  # `vpo bench --record` writes here; the docs render it


def machine_description() -> dict:
    """What a reader needs to weigh the numbers: processor, cores, memory, accelerator, library versions."""
    import os
    import platform

    import torch

    memory = None
    try:
        memory = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    return {"processor": platform.processor() or platform.machine(), "cores": os.cpu_count(), "memory_gib": memory,
            "accelerator": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
            "system": platform.platform(), "python": platform.python_version(), "torch": torch.__version__}


def record(result: dict, path: Path = RESULTS) -> Path:
    """Write ``result`` with its provenance (commit, source hash, machine, date) and each key's goal as
    ``benchmarks/results.json``."""
    from vpo_theory.records import atomic_write_json, provenance

    goals = {key: {"comparison": op, "goal": target, "measured": result.get(key),
                   "met": result.get("targets_met", {}).get(key)} for key, (op, target) in TARGETS.items()}
    atomic_write_json(path, {"result": result, "goals": goals, "machine": machine_description(),
                             "provenance": provenance()})
    return path


def run(quick: bool, log=print) -> dict:
    import platform

    import torch

    result = {"quick": quick, "machine": platform.machine(), "threads": torch.get_num_threads()}
    for suite in SUITES:
        start = time.perf_counter()
        try:
            result.update(suite(quick))
        except ImportError as error:  # e.g. TRL not installed: that suite is skipped, and says so
            result[f"{suite.__name__}_skipped"] = (f"{error}: install the extra that brings it, "
                                                   f"pip install -e \".[trl]\" (or \".[all]\")")
        log(f"[bench] {suite.__name__}: {time.perf_counter() - start:.1f}s")
    result["targets_met"] = {key: (result[key] >= target if op == ">=" else result[key] <= target)
                             for key, (op, target) in TARGETS.items() if key in result}
    return result

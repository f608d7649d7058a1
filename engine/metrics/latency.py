"""How long one forward pass takes, in PyTorch and in ONNX Runtime, at batch 1 and 64 (warm-up, then median of N).

The thread count is part of every number: the same model is 2x apart on 1 vs 2 cores, so it is recorded beside it
(latency_ms["threads"]). ONNX Runtime's count is picked by timing (engine.ondevice.threads): more is not always faster.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from engine.ondevice import generator_feeds

BATCHES = (1, 64)


MAX_SECONDS = 5.0  # per runtime and batch size: a big dense model at batch 64 stops early instead of taking minutes
MIN_RUNS = 3


def median_ms(run: Callable[[], object], runs: int = 20, warmup: int = 3, max_seconds: float = MAX_SECONDS) -> float:
    """Median wall time of `run()` in milliseconds after `warmup` untimed calls (first calls allocate and plan).

    Stops after `runs` timed calls, or once `max_seconds` have passed with at least MIN_RUNS done.
    """
    for _ in range(max(0, warmup)):
        run()
    times: list[float] = []
    start = time.perf_counter()
    for _ in range(max(1, runs)):
        t = time.perf_counter()
        run()
        times.append((time.perf_counter() - t) * 1000.0)
        if len(times) >= MIN_RUNS and time.perf_counter() - start > max_seconds:
            break
    return float(statistics.median(times))


def latents(batch: int, latent_dim: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, latent_dim)).astype(np.float32)


def torch_latency(G: torch.nn.Module, batches=BATCHES, runs: int = 20, warmup: int = 3,
                  threads: int | None = None) -> dict[str, float]:
    """{"torch_b1": ms, "torch_b64": ms} of G in eval mode under no_grad, on the CPU thread count given."""
    old = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    was_training = G.training
    G.eval()
    device = next(G.parameters()).device
    out = {}
    try:
        with torch.inference_mode():
            for b in batches:
                z = torch.from_numpy(latents(b, int(G.latent_dim))).to(device)

                def step(z=z):
                    G(z)
                    if device.type == "cuda":  # kernels are async; time the work, not the launch
                        torch.cuda.synchronize(device)

                out[f"torch_b{b}"] = round(median_ms(step, runs, warmup), 4)
    finally:
        G.train(was_training)
        if threads:
            torch.set_num_threads(old)
    return out


def ort_latency(session, latent_dim: int, batches=BATCHES, runs: int = 20, warmup: int = 3) -> dict[str, float]:
    """{"ort_b1": ms, "ort_b64": ms} of an onnxruntime session whose input is `z` and output `image`."""
    out = {}
    for b in batches:
        feed = generator_feeds(session, latents(b, latent_dim))
        out[f"ort_b{b}"] = round(median_ms(lambda feed=feed: session.run(["image"], feed), runs, warmup), 4)
    return out


def ort_latency_fastest(path, latent_dim: int, batches=BATCHES, runs: int = 20,
                        threads: int | None = None) -> dict[str, float | int]:
    """{"ort_b1": ms, "ort_b64": ms, "threads": n} at the fastest thread count on this machine (or `threads`)."""
    from engine.ondevice.threads import pick_threads

    return pick_threads(path, latent_dim, batches, runs=runs, candidates=[threads] if threads else None)["latency_ms"]


def ort_session(path, threads: int | None = None):
    """An ORT CPU session with a fixed intra-op thread count, so its latency compares with torch's."""
    from engine.export.onnx import ort_session as _open

    return _open(path, threads=threads)


def empty_latency() -> dict[str, float | None]:
    """The contract's keys; a variant only fills the runtime it runs in, and the thread count it ran on."""
    return {**{f"{rt}_b{b}": None for rt in ("torch", "ort") for b in BATCHES}, "threads": None}

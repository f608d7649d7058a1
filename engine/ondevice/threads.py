"""How many ONNX Runtime threads make a generator fastest on this machine, found by timing it.

More threads are not always faster: on the 2-vCPU machines this project is built on, 2 threads were slower
than 1 for every generator measured (small layers spend more time handing work out than computing). So the
count is measured, per file, and reported beside every latency. numpy + onnxruntime only: the on-device
sampler uses this too.
"""

from __future__ import annotations

import os
import statistics
import time

import numpy as np

from engine.ondevice import generator_feeds

BATCHES = (1, 64)


def candidate_threads(limit: int | None = None) -> list[int]:
    """1, 2, 3, 4, then doublings, and the machine's count: every useful count without timing 64 of them."""
    n = max(1, limit or os.cpu_count() or 1)
    picks = {t for t in (1, 2, 3, 4) if t <= n} | {n}
    t = 8
    while t < n:
        picks.add(t)
        t *= 2
    return sorted(picks)


def open_session(path: str | os.PathLike, threads: int):
    """A CPU session with a fixed intra-op thread count and one inter-op thread (a generator is one chain)."""
    from engine.ondevice.runtimes import is_edge_file, open_edge_session

    if is_edge_file(path):  # an ExecuTorch or LiteRT file: its own runtime, the same questions
        from pathlib import Path

        return open_edge_session(Path(path), threads)
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def time_ms(session, feed: dict, runs: int, max_seconds: float, warmup: int = 1) -> float:
    """Median milliseconds of `runs` calls (fewer once `max_seconds` have passed, at least 3) after `warmup`
    untimed ones (the first call at a batch size plans its memory)."""
    name = session.get_outputs()[0].name
    for _ in range(warmup):
        session.run([name], feed)
    times: list[float] = []
    start = time.perf_counter()
    for _ in range(max(1, runs)):
        t = time.perf_counter()
        session.run([name], feed)
        times.append((time.perf_counter() - t) * 1000.0)
        if len(times) >= 3 and time.perf_counter() - start > max_seconds:
            break
    return statistics.median(times)


def pick_threads(path: str | os.PathLike, latent_dim: int, batches=BATCHES, runs: int = 20, rounds: int = 3,
                 candidates: list[int] | None = None, max_seconds: float = 1.0, seed: int = 0,
                 feeds: dict[int, dict] | None = None) -> dict:
    """Time the file at each candidate thread count and batch size; the fastest count wins.

    Rounds interleave the counts, so a burst of other load on the machine hits all of them alike; each number
    is the median over rounds of per-round medians. The winner has the smallest sum over batch sizes of
    (its time / the best time at that batch size). `feeds` (batch size → inputs) times a model that takes
    something other than latents (an image-to-image one). Returns {"threads": best, "latency_ms": {"ort_b1": ms,
    ..., "threads": best}, "tried": {"1": {"ort_b1": ms, ...}, ...}}.
    """
    from engine.ondevice.runtimes import thread_counts

    counts = thread_counts(path, candidates or candidate_threads())
    sessions = {t: open_session(path, t) for t in counts}
    if len(counts) == 1 and getattr(sessions[counts[0]], "threads", None):  # what an ExecuTorch pool really has
        counts = [sessions[counts[0]].threads]
        sessions = {counts[0]: next(iter(sessions.values()))}
    rng = np.random.default_rng(seed)
    if feeds is None:
        feeds = {b: generator_feeds(sessions[counts[0]], rng.standard_normal((b, latent_dim)).astype(np.float32))
                 for b in batches}
    batches = tuple(feeds)
    per_round: dict[int, dict[int, list[float]]] = {t: {b: [] for b in batches} for t in counts}
    per_round_runs = max(1, runs // max(1, rounds))
    for r in range(max(1, rounds)):
        for t in counts:
            for b in batches:
                per_round[t][b].append(time_ms(sessions[t], feeds[b], per_round_runs, max_seconds / rounds,
                                               warmup=2 if r == 0 else 0))
    tried = {t: {f"ort_b{b}": round(statistics.median(v), 4) for b, v in per_round[t].items()} for t in counts}
    best_at = {k: min(tried[t][k] for t in counts) for k in tried[counts[0]]}
    best = min(counts, key=lambda t: (sum(tried[t][k] / best_at[k] for k in best_at), t))
    return {"threads": best, "latency_ms": {**tried[best], "threads": best},
            "tried": {str(t): v for t, v in tried.items()}}

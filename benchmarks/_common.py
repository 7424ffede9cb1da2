"""Timing helpers shared by the benchmark scripts: median of repeats, compile time apart."""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import time

import jax


def timed(fn, *args, repeats: int = 3):
    """(output, median seconds of ``repeats`` warm calls, compile seconds).

    Compile time is the first call's excess over the warm median. Every call is followed by
    ``block_until_ready``: device work is asynchronous.
    """
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    first = time.perf_counter() - t0
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = jax.block_until_ready(fn(*args))
        ts.append(time.perf_counter() - t0)
    med = statistics.median(ts)
    return out, med, max(first - med, 0.0)


def header(title: str) -> str:
    import flax
    import jaxlib
    import optax

    d = jax.devices()[0]
    return (
        f"### {title}\n\n{datetime.date.today().isoformat()} · {d.device_kind} ({jax.default_backend()}) · "
        f"jax {jax.__version__} / jaxlib {jaxlib.__version__} · flax {flax.__version__} · optax {optax.__version__} · "
        f"python {platform.python_version()}\n"
    )


def record(text: str):
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md")
    with open(path, "a") as f:
        f.write("\n" + text.rstrip() + "\n")

"""Eager calls against jitted calls: does a second plain call with the same shapes retrace?

One question (issue 14, "No retracing"): for each public entry point, the warm time of a
plain (eager) call with the same shapes as the previous one, against the same call wrapped
in ``jax.jit`` by the user. Target: eager ≤ jitted + 50 ms on CPU. The first eager call
(trace + compile) is reported apart.

Usage: ``python benchmarks/bench_eager.py [--quick] [--record]``.
"""

from __future__ import annotations

import argparse
import os
import sys
from functools import partial

import jax
import jax.numpy as jnp

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import vgtheory as vg  # noqa: E402
from vgtheory._landscape import mlp_init, mse_loss  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import header, record, timed  # noqa: E402


def workloads(quick: bool):
    """(name, description, eager thunk-of-args, jitted function, args)."""
    k = jax.random.key(0)
    n, steps = (16, 50) if quick else (64, 200)
    rnn = vg.init_rnn(k, n, gain=1.5)
    h0 = 0.1 * jnp.ones(n, jnp.float32)
    widths = (10, 32, 24, 1)
    batch = 64
    kx, ky, kp = jax.random.split(k, 3)
    x = jax.random.normal(kx, (batch, widths[0]), jnp.float32)
    y = jax.random.normal(ky, (batch, 1), jnp.float32)
    params = mlp_init(kp, widths, jnp.float32)
    loss = partial(mse_loss, x=x, y=y)
    dim = sum(a.size for a in jax.tree_util.tree_leaves(params))
    a = jax.random.normal(k, (8, 64, 64), jnp.float32)
    qubits, depth, samples = (4, 6, 16) if quick else (6, 20, 64)
    return [
        (
            "bptt_gradient_norms",
            f"RNN N={n}, T={steps}",
            lambda h: vg.bptt_gradient_norms(vg.rnn_step, rnn, h, steps=steps),
            (h0,),
        ),
        (
            "lyapunov_spectrum",
            f"RNN N={n}, T={steps}, full spectrum",
            lambda h: vg.lyapunov_spectrum(vg.rnn_step, rnn, h, steps=steps),
            (h0,),
        ),
        (
            "hessian_eigh",
            f"tanh MLP {widths}, d={dim}, batch {batch}, top 5",
            lambda p, key: vg.hessian_eigh(loss, p, 5, key),
            (params, k),
        ),
        (
            "hessian_trace",
            "same model, Hutch++ 30 HVPs",
            lambda p, key: vg.hessian_trace(loss, p, key, 30),
            (params, k),
        ),
        (
            "theory.mean_field",
            "tanh, σ_w² = 1.5, σ_b² = 0.05",
            lambda sw, sb: vg.theory.mean_field("tanh", sw, sb),
            (jnp.float32(1.5), jnp.float32(0.05)),
        ),
        ("singular_values", "8 × 64×64, method svd", lambda m: vg.singular_values(m, method="svd"), (a,)),
        (
            "random_circuit_gradients",
            f"{qubits} qubits, depth {depth}, {samples} circuits",
            lambda key: vg.random_circuit_gradients(key, qubits, depth, samples),
            (k,),
        ),
    ]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--record", action="store_true")
    a = ap.parse_args()
    rows = []
    for name, desc, fn, args in workloads(a.quick):
        _, t_eager, c_eager = timed(fn, *args, repeats=3)
        _, t_jit, _ = timed(jax.jit(fn), *args, repeats=3)
        over = (t_eager - t_jit) * 1e3
        ok = "yes" if over <= 50 else "**no**"
        rows.append(
            f"| `{name}` | {desc} | {t_eager * 1e3:.1f} | {t_jit * 1e3:.1f} | {over:+.1f} | {c_eager:.2f} | {ok} |"
        )
        print(rows[-1], flush=True)
    table = (
        header("bench_eager: second eager call vs jitted call (issue 14)" + (" — quick" if a.quick else ""))
        + "\nWarm medians of 3 calls after a first call with the same shapes; `first` is the first "
        "eager call's excess (trace + compile).\n\n"
        "| function | workload | eager (ms) | jitted (ms) | eager − jitted (ms) | first (s) | ≤ 50 ms |\n"
        "|---|---|---|---|---|---|---|\n" + "\n".join(rows)
    )
    print(table)
    if a.record:
        record(table)


if __name__ == "__main__":
    main()

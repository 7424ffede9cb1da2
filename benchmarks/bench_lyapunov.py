"""W3 (PERF.md): full Lyapunov spectrum of 64 tanh RNNs (gain 1.5), N=256, 200 steps.

vgtheory (CholeskyQR in float64 every r steps, r chosen from a pilot's spread) against the
loop a user would write (Householder QR of the full frame every step) in JAX and, when
importable, PyTorch. Accuracy: the float32 spectrum against a float64 Householder run on
the *same* float64 trajectory (the map is chaotic, so separate float32 and float64
trajectories differ by finite-time fluctuations, not by arithmetic): the step is driven
along stored states, h_{t+1} = F(x_t + (h − stop_grad(h))), whose value is F(x_t) and
whose tangent is J(x_t).

    python benchmarks/bench_lyapunov.py [--quick] [--record]
"""

from __future__ import annotations

import argparse
import sys
import os
import datetime
import platform
import time

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import vgtheory as vg  # noqa: E402
from vgtheory._lyapunov import lyapunov_spectrum, reortho_for_spread  # noqa: E402
from vgtheory._rnn import init_rnn, rnn_step  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import timed  # noqa: E402

HI = jax.lax.Precision.HIGHEST


def trajectory(w, h0, steps):
    def body(h, _):
        h = jnp.tanh(jnp.matmul(w, h, precision=HI))
        return h, h

    _, hs = jax.lax.scan(body, h0, None, length=steps)
    return jnp.concatenate([h0[None], hs[:-1]])  # x_t = state before step t


def driven_step(p, h, x):
    return rnn_step(p, x + (h - jax.lax.stop_gradient(h)))


def naive_jax(w, h0, steps):
    """The obvious loop: J = diag(1 − h²) W, Y = J Q, Householder QR every step."""
    n = w.shape[0]

    def body(c, _):
        h, q, s = c
        h = jnp.tanh(jnp.matmul(w, h, precision=HI))
        j = (1 - h**2)[:, None] * w
        q, r = jnp.linalg.qr(jnp.matmul(j, q, precision=HI))
        d = jnp.diagonal(r)
        q = q * jnp.sign(d)
        return (h, q, s + jnp.log(jnp.abs(d)).astype(s.dtype)), None

    (_, _, s), _ = jax.lax.scan(body, (h0, jnp.eye(n, dtype=w.dtype), jnp.zeros(n, jnp.float64)), None, length=steps)
    return s / steps


def torch_loop(w, h0, steps):
    import torch

    dev = "cuda" if torch.cuda.is_available() else "cpu"
    W = torch.as_tensor(np.asarray(w), device=dev)
    H = torch.as_tensor(np.asarray(h0), device=dev)
    b, n, _ = W.shape

    def run():
        h, q = H.clone(), torch.eye(n, device=dev).expand(b, n, n).clone()
        s = torch.zeros(b, n, dtype=torch.float64, device=dev)
        for _ in range(steps):
            h = torch.tanh(torch.bmm(W, h[..., None])[..., 0])
            j = (1 - h**2)[..., None] * W
            q, r = torch.linalg.qr(torch.bmm(j, q))
            d = torch.diagonal(r, dim1=-2, dim2=-1)
            q = q * torch.sign(d)[:, None, :]
            s += torch.log(torch.abs(d)).double()
        if dev == "cuda":
            torch.cuda.synchronize()
        return s / steps

    torch.backends.cuda.matmul.allow_tf32 = False
    run()
    ts = []
    for _ in range(1):  # one timed run after the warm-up: it is the slow baseline
        t0 = time.perf_counter()
        out = run()
        ts.append(time.perf_counter() - t0)
    return out.cpu().numpy(), float(np.median(ts))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--record", action="store_true")
    ap.add_argument("--n-acc", type=int, default=4, help="members checked against float64")
    ap.add_argument("--intervals", default="", help="extra intervals r to time, e.g. 1,2,4")
    args = ap.parse_args()
    b, n, steps, g = (8, 32, 60, 1.5) if args.quick else (64, 256, 200, 1.5)
    keys = jax.random.split(jax.random.PRNGKey(0), b)
    params = jax.vmap(lambda k: init_rnn(k, n, gain=g, dtype=jnp.float32))(keys)
    h0 = 0.5 * jax.random.normal(jax.random.PRNGKey(1), (b, n), jnp.float32)
    rows = []
    t_naive = None

    # pilot: spread per step from 10 steps at r = 1, then r from the float32 budget
    pilot = jax.jit(jax.vmap(lambda p, h: lyapunov_spectrum(rnn_step, p, h, steps=10, reortho=1)))
    pe = np.asarray(pilot(params, h0).exponents, np.float64)
    spread = float(np.max(pe[:, 0] - pe[:, -1]))
    r = reortho_for_spread(spread * 1.1, jnp.float32)
    while steps % r:
        r -= 1

    _, t_naive, c_naive = timed(
        jax.jit(jax.vmap(lambda p, h: naive_jax(p.w, h, steps))), params, h0, repeats=1 if not args.quick else 3
    )

    # accuracy along the same float64 trajectory (first n_acc members)
    m = min(args.n_acc, b)
    p64 = jax.tree_util.tree_map(lambda a: a[:m].astype(jnp.float64), params)
    xs64 = jax.jit(jax.vmap(lambda p, h: trajectory(p.w, h, steps)))(p64, h0[:m].astype(jnp.float64))
    ref = jax.jit(
        jax.vmap(lambda p, h, x: lyapunov_spectrum(driven_step, p, h, x, steps=steps, reortho=1, method="householder"))
    )(p64, xs64[:, 0], xs64)
    p32 = jax.tree_util.tree_map(lambda a: a[:m], params)
    xs32 = xs64.astype(jnp.float32)
    nai = jax.jit(
        jax.vmap(lambda p, h, x: lyapunov_spectrum(driven_step, p, h, x, steps=steps, reortho=1, method="householder"))
    )(p32, xs32[:, 0], xs32)
    e64 = np.asarray(ref.exponents, np.float64)
    err_naive = float(np.max(np.abs(np.asarray(nai.exponents, np.float64) - e64)))
    rs = [r] + [int(v) for v in args.intervals.split(",") if v and int(v) != r and steps % int(v) == 0]
    for ri in rs:

        def ours(p, h, ri=ri):
            return jax.vmap(lambda p, h: lyapunov_spectrum(rnn_step, p, h, steps=steps, reortho=ri))(p, h)

        res, t_ours, c_ours = timed(jax.jit(ours), params, h0)
        drv = jax.jit(jax.vmap(lambda p, h, x: lyapunov_spectrum(driven_step, p, h, x, steps=steps, reortho=ri)))(
            p32, xs32[:, 0], xs32
        )
        err_ours = float(np.max(np.abs(np.asarray(drv.exponents, np.float64) - e64)))
        st = np.asarray(res.status)
        rows.append(
            (
                f"vgtheory CholeskyQR(f64) every {ri} steps, f32 frame" + (" (auto r)" if ri == r else ""),
                t_ours,
                c_ours,
                err_ours,
                f"status ok {int(np.sum(st == 0))}/{b}",
            )
        )
    rows.append(("JAX loop, Householder QR every step", t_naive, c_naive, err_naive, ""))
    rows.sort(key=lambda row: row[0].startswith("JAX"))
    try:
        import torch  # noqa: F401

        w = np.asarray(params.w)
        _, t_torch = torch_loop(w, np.asarray(h0), steps)
        rows.append(
            (
                "PyTorch loop, torch.linalg.qr every step",
                t_torch,
                float("nan"),
                float("nan"),
                "accuracy as JAX loop (same algorithm)",
            )
        )
    except ImportError:
        rows.append(("PyTorch loop", float("nan"), float("nan"), float("nan"), "torch not importable"))

    dev = jax.devices()[0]
    head = (
        f"\n### Lyapunov W3 ({'quick' if args.quick else 'full'}): {b} tanh RNNs, N={n}, "
        f"{steps} steps, gain {g}, full spectrum, float32\n\n"
        f"{datetime.date.today()} · {dev.device_kind} ({dev.platform}) · jax {jax.__version__} · "
        f"python {platform.python_version()} · vgtheory {vg.__version__} · pilot spread "
        f"{spread:.2f} nats/step → r = {r}\n\n"
        "| method | time (s) | compile (s) | max abs error vs float64 (all k) | speed-up vs JAX loop | note |\n"
        "|---|---|---|---|---|---|\n"
    )
    body = "".join(
        f"| {name} | {t:.4g} | {c:.3g} | {e:.2e} | {t_naive / t:.1f}× | {note} |\n" for name, t, c, e, note in rows
    )
    print(head + body)
    if args.record:
        with open(__file__.rsplit("/", 1)[0] + "/RESULTS.md", "a") as f:
            f.write(head + body)


if __name__ == "__main__":
    main()

"""How does cost grow with width n, depth L and ensemble size E? Exponents vs operation counts.

Workloads (float32, precision="highest"):
  jac   ensemble of end-to-end Jacobians by the explicit D·W chain: E·L·2n³ flops
  flow  ensemble of log-domain gradient flows (forward + backward matvecs): E·L·4n² flops

For each axis the other two are held fixed; log(time) is fitted against log(size) over the
sizes given and the slope is compared with the exponent of the operation count. Small sizes
are dominated by fixed overheads (launches, the scan loop), so the fit uses the upper half.

    python benchmarks/bench_scaling.py --quick     # CPU, seconds
    python benchmarks/bench_scaling.py --record    # GPU sizes; append to RESULTS.md
"""

from __future__ import annotations

import argparse
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vgtheory as vg  # noqa: E402
from _common import header, record, timed  # noqa: E402


def make(kind, E, L, n):
    ps = jax.vmap(lambda k: vg.init_mlp(k, [n] * (L + 1), sigma_w2=1.0))(jax.random.split(jax.random.key(0), E))
    x = jnp.ones((E, n), jnp.float32)
    if kind == "jac":
        f = jax.jit(jax.vmap(lambda p, x: vg.mlp_jacobian(p, x, "tanh")))
    else:
        f = jax.jit(jax.vmap(lambda p, x: vg.gradient_flow(p, x, "tanh", x).log_sq_norms))
    flops = E * L * (2 * n**3 if kind == "jac" else 4 * n**2)
    return f, (ps, x), flops


def sweep(kind, axis, sizes, base, repeats):
    rows = []
    for s in sizes:
        cfg = dict(base, **{axis: s})
        f, args, flops = make(kind, cfg["E"], cfg["L"], cfg["n"])
        _, t, compile_s = timed(f, *args, repeats=repeats)
        rows.append((s, t, compile_s, flops))
    top = rows[len(rows) // 2 :]
    slope = np.polyfit(np.log([r[0] for r in top]), np.log([r[1] for r in top]), 1)[0]
    return rows, slope


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--record", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    if a.quick:
        base = dict(E=16, L=8, n=64)
        axes = dict(n=[32, 64, 128, 256], L=[4, 8, 16, 32], E=[8, 16, 32, 64])
    else:
        base = dict(E=64, L=32, n=256)
        axes = dict(n=[64, 128, 256, 512, 1024], L=[8, 16, 32, 64, 128], E=[16, 32, 64, 128, 256])
    expected = {("jac", "n"): 3, ("jac", "L"): 1, ("jac", "E"): 1, ("flow", "n"): 2, ("flow", "L"): 1, ("flow", "E"): 1}
    lines = [
        header("Scaling: time against width n, depth L, ensemble size E"),
        f"base E={base['E']}, L={base['L']}, n={base['n']}; fit over the upper half of each sweep\n",
        "| workload | axis | sizes | median time (s) | compile (s) | GFLOP/s at largest | fitted exponent | op-count exponent | within 20% |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for kind in ("jac", "flow"):
        for axis, sizes in axes.items():
            rows, slope = sweep(kind, axis, sizes, base, a.repeats)
            exp = expected[(kind, axis)]
            ok = abs(slope - exp) <= 0.2 * exp
            gflops = rows[-1][3] / rows[-1][1] / 1e9
            lines.append(
                f"| {kind} | {axis} | {','.join(str(r[0]) for r in rows)} | "
                f"{', '.join(f'{r[1]:.3g}' for r in rows)} | {max(r[2] for r in rows):.2g} | {gflops:.1f} | "
                f"{slope:.2f} | {exp} | {'yes' if ok else 'no'} |"
            )
            print(lines[-1], flush=True)
    text = "\n".join(lines)
    print(text)
    if a.record:
        record(text)


if __name__ == "__main__":
    main()

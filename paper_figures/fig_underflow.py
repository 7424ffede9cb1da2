"""Underflow: the step at which x ← x·fl(0.1), from x = 1, becomes exactly 0, per dtype.

Bars: measured steps (``vg.underflow_step``) in a compiled JAX loop (``jit``), op by op
(``eager``) and in host IEEE-754 arithmetic (``numpy``), on this machine's backend. Markers:
the closed-form predictions with gradual underflow (subnormals kept) and with flush-to-zero
(claim S13: "about 45 steps in float32"). Right: the trajectory log₁₀|x_k| in each dtype
(host arithmetic), ending where it reaches exactly 0. Deterministic: no error bars.
"""

from __future__ import annotations

import _common as C
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import vgtheory as vg

NAME = "underflow"
TITLE = "Underflow step of repeated ×0.1 per dtype and backend"
CLAIMS = ("S13", "S13.corrected")
SEED = 10
DTYPES = ("float64", "float32", "float16", "bfloat16")


def _trajectory(dtype, limit=400):
    dt = jnp.dtype(dtype)
    x, f = np.asarray(1.0, dt), np.asarray(0.1, dt)
    out = [0.0]
    for _ in range(limit):
        x = np.asarray(x * f, dt)
        if float(x) == 0.0:
            break
        out.append(float(np.log10(np.abs(np.float64(x)))))
    return np.asarray(out)


def main(out_dir: str, smoke: bool = False) -> list[str]:
    modes = ("jit", "numpy") if smoke else ("jit", "eager", "numpy")
    res = {(d, m): vg.underflow_step(d, mode=m) for d in DTYPES for m in modes}
    backend = res[(DTYPES[0], "jit")].backend
    fig, (a, b) = plt.subplots(1, 2, figsize=(10.0, 3.8))
    x = np.arange(len(DTYPES))
    width = 0.8 / len(modes)
    for j, m in enumerate(modes):
        vals = [res[(d, m)].steps for d in DTYPES]
        bars = a.bar(
            x + (j - (len(modes) - 1) / 2) * width,
            vals,
            width,
            color=C.COLORS[j],
            alpha=0.75,
            label=f"measured: {m}" + (f" ({backend})" if m != "numpy" else " (host IEEE)"),
        )
        a.bar_label(bars, fontsize=7, label_type="center", color="white", fontweight="bold")
    sub = [res[(d, "numpy")].ieee_subnormal for d in DTYPES]
    ftz = [res[(d, "numpy")].ieee_ftz for d in DTYPES]
    a.plot(x, sub, ls="none", marker="_", ms=22, mew=2.2, color="black", label="predicted: gradual underflow (IEEE)")
    a.plot(x, ftz, ls="none", marker="_", ms=22, mew=2.2, color=C.COLORS[3], label="predicted: flush-to-zero")
    a.set_yscale("log")
    a.set_xticks(x, DTYPES)
    a.set_ylabel("multiplications by fl(0.1) until exactly 0 (log scale)")
    a.set_title("(a) S13: underflow step per dtype")
    a.legend(loc="upper right", fontsize=7)
    a.grid(axis="x", visible=False)
    for i, d in enumerate(DTYPES):
        t = _trajectory(d)
        b.plot(np.arange(t.size), t, color=C.COLORS[i], label=f"{d}: exactly 0 at step {t.size}", **C.THEORY)
        b.plot([t.size - 1], [t[-1]], marker="x", color=C.COLORS[i], ls="none")
    b.set_xscale("symlog", linthresh=10)
    b.set_xlabel("step k (symlog scale)")
    b.set_ylabel("log₁₀ |x_k|  (last non-zero value marked ×)")
    b.set_title("(b) trajectories in host IEEE arithmetic")
    b.legend(loc="lower left", fontsize=7)
    fig.tight_layout()
    return C.save(fig, out_dir, NAME)


if __name__ == "__main__":
    C.cli(main, __doc__)

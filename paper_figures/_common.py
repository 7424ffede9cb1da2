"""Shared plotting conventions of the paper figures (not a figure itself).

Every figure script imports this module first: it selects matplotlib's Agg backend, turns on
float64 in JAX (as ``vgtheory verify`` does), fixes the style, and saves PNG/PDF files with
no time-dependent metadata so that a full run is bit-for-bit reproducible on the same
device and seed.
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")

import jax  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

jax.config.update("jax_enable_x64", True)

#: Colours per series, colour-blind safe (Okabe–Ito).
COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]
#: Theory is drawn with lines, simulation with markers and error bars.
THEORY = dict(lw=1.6, alpha=0.9)
SIM = dict(ls="none", ms=4.5, capsize=2.0, elinewidth=0.9, mew=0.9)

plt.rcParams.update(
    {
        "figure.dpi": 100,
        "savefig.dpi": 110,
        "font.size": 9,
        "axes.titlesize": 9.5,
        "axes.labelsize": 9,
        "legend.fontsize": 7.5,
        "legend.framealpha": 0.85,
        "axes.grid": True,
        "grid.alpha": 0.25,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "svg.hashsalt": "vgtheory",
        "pdf.compression": 6,
    }
)


def key(seed: int):
    """The figure's PRNG key (fixed seed per figure)."""
    return jax.random.key(seed)


def members(fn, key, n: int):
    """``fn(key)`` for ``n`` random initialisations through ``vg.ensemble`` (member i gets
    ``fold_in(key, i)``): the per-member values, each leaf with a leading ``[n]`` axis."""
    import vgtheory as vg

    samples = vg.ensemble(fn, key, n, keep_samples=True, progress=False).samples
    assert samples is not None
    return jax.tree_util.tree_map(np.asarray, samples)


def sweep(fn, key, n: int, settings):
    """``fn(key, s)`` for ``n`` members (:func:`members`), each run at every setting ``s`` of the
    array ``settings`` (vmapped inside the member: one compilation); leaves ``[settings, n, ...]``."""
    out = members(lambda k: jax.vmap(lambda s: fn(k, s))(settings), key, n)
    return jax.tree_util.tree_map(lambda a: np.swapaxes(a, 0, 1), out)


def save(fig, out_dir: str, name: str, pdf: bool = True) -> list[str]:
    """Writes ``name.png`` (and ``name.pdf``) under ``out_dir`` without dates; returns paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths = [os.path.join(out_dir, name + ".png")]
    fig.savefig(paths[0], metadata={"Software": None}, bbox_inches="tight")
    if pdf:
        paths.append(os.path.join(out_dir, name + ".pdf"))
        fig.savefig(paths[1], metadata={"CreationDate": None, "Producer": None, "Creator": None}, bbox_inches="tight")
    plt.close(fig)
    return paths


def log_errorbar(ax, x, mean, se, **kw):
    """Error bars of mean ± SE on a log axis, clipped where mean − SE ≤ 0."""
    mean, se = np.asarray(mean, float), np.asarray(se, float)
    lo = np.where(mean - se > 0, se, mean * (1 - 1e-3))
    return ax.errorbar(x, mean, yerr=np.stack([lo, se]), **{**SIM, **kw})


def cli(main, doc: str):
    """``python fig_x.py [--smoke] [--out DIR]``."""
    p = argparse.ArgumentParser(description=doc)
    p.add_argument("--smoke", action="store_true", help="tiny sizes (seconds), as the tests run them")
    p.add_argument("--out", default="figures_out", help="output folder")
    a = p.parse_args()
    for path in main(a.out, smoke=a.smoke):
        print(path)

"""Barren plateaus: variance of a cost gradient of random circuits against the number of qubits.

Simulation: ∂E/∂θ for the RY angle of qubit 0 in the middle layer of random hardware-efficient
circuits (RY·RZ layers with CZ ladders, angles uniform, depth 10·n_max so both halves are
approximate 2-designs; E = ⟨Z₀Z₁⟩; ``vg.random_circuit_gradients``, a JAX statevector
simulator), sample variance ± its standard error (``vg.variance_estimate``; markers).
Theory: Var = N²/(2(N+1)(N²−1)), N = 2ⁿ ≈ 2^−(n+1) (``vg.theory.barren_plateau_variance``;
McClean et al. 2018, claim L9).
"""

from __future__ import annotations

import _common as C
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import vgtheory as vg

NAME = "barren"
TITLE = "Barren plateaus: gradient variance against qubits"
CLAIMS = ("L9",)
SEED = 11


def main(out_dir: str, smoke: bool = False) -> list[str]:
    nmax, samples = (4, 64) if smoke else (8, 1000)
    depth = 10 * nmax
    qubits = np.arange(2, nmax + 1)
    # one random circuit per member and qubit count (independent angles for each count), as claim L9
    one = lambda k, a: vg.random_circuit_gradients(jax.random.fold_in(k, a), nmax, depth, 1, n_active=a).grads[0]
    grads = np.asarray(C.sweep(one, C.key(SEED), samples, jnp.asarray(qubits)), np.float64)  # [qubits, samples]
    est = [vg.variance_estimate(g) for g in grads]
    var = np.asarray([float(e.mean) for e in est])
    se = np.asarray([float(e.se) for e in est])
    fine = np.arange(1, nmax + 2)
    th = np.asarray([vg.theory.barren_plateau_variance(int(n)) for n in fine])
    fig, ax = plt.subplots(figsize=(5.4, 3.8))
    ax.plot(fine, th, color=C.COLORS[0], label="2-design theory N²/(2(N+1)(N²−1)), N = 2ⁿ", **C.THEORY)
    ax.plot(fine, 2.0 ** -(fine + 1.0), color="0.5", ls=":", lw=1.0, label="2^−(n+1)")
    C.log_errorbar(
        ax,
        qubits,
        var,
        se,
        color=C.COLORS[1],
        marker="o",
        mfc="none",
        label=f"simulation, depth {depth}, {samples} circuits each (± SE)",
    )
    ax.set_yscale("log", base=2)
    ax.set_xlabel("number of qubits n")
    ax.set_ylabel("Var[∂E/∂θ]  (log₂ scale)")
    ax.set_title("L9: barren plateau, E = ⟨Z₀Z₁⟩")
    ax.legend(loc="lower left")
    fig.tight_layout()
    return C.save(fig, out_dir, NAME)


if __name__ == "__main__":
    C.cli(main, __doc__)

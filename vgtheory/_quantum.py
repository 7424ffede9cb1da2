"""A small statevector simulator (≤ 12 qubits) for barren plateaus (McClean et al. 2018, L9).

Layered hardware-efficient ansatz on n qubits, |ψ(θ)⟩ = U(θ)|0…0⟩ with, per layer,

    RY(θ_{l,q,0}) then RZ(θ_{l,q,1}) on every qubit q, then CZ on (0,1), (1,2), …, (n−2, n−1),

RY(θ) = exp(−iθY/2), RZ(θ) = exp(−iθZ/2). The cost is E(θ) = ⟨ψ(θ)|H|ψ(θ)⟩ for a Pauli
string H (default Z₀Z₁), and ∂E/∂θ comes from ``jax.grad`` through the simulation.
The state is a ``[2]*n`` complex tensor; qubit 0 is the most significant bit (as in
``jnp.kron(A₀, A₁, …)``). Depth is a ``lax.scan`` over ``[L, n, 2]`` angles.

Theory (``vg.theory.barren_plateau_variance``): if the circuit before and after the
differentiated gate both form unitary 2-designs, Var[∂E/∂θ] = 2 tr(G²) tr(H²) /
((N² − 1)(N + 1)) = N²/(2(N+1)(N²−1)) ≈ 2^{−(n+1)} for G = P/2, tr H² = N = 2ⁿ.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, ArrayLike, Float, Real, Shaped

from ._cache import cached
from ._checks import check_float_dtype, check_int, check_real_or_int
from ._numerics import HIGHEST as HIGHEST

MAX_QUBITS = 12
_PAULI = {"I": ((1, 0), (0, 1)), "X": ((0, 1), (1, 0)), "Y": ((0, -1j), (1j, 0)), "Z": ((1, 0), (0, -1))}


def _cdtype(dtype):
    return jnp.complex128 if jnp.dtype(dtype) == jnp.float64 else jnp.complex64


def _apply_1q(state, gate, q):
    """Applies a 2×2 ``gate`` to qubit ``q`` of a ``[2]*n`` state (reshape, no transpose)."""
    n = state.ndim
    s = state.reshape(2**q, 2, 2 ** (n - q - 1))
    s0, s1 = s[:, 0], s[:, 1]  # elementwise 2×2 update: no small matmuls
    out = jnp.stack([gate[0, 0] * s0 + gate[0, 1] * s1, gate[1, 0] * s0 + gate[1, 1] * s1], axis=1)
    return out.reshape(state.shape)


def ry(theta):
    """RY(θ) = [[cos θ/2, −sin θ/2], [sin θ/2, cos θ/2]]."""
    c, s = jnp.cos(theta / 2), jnp.sin(theta / 2)
    return jnp.stack([jnp.stack([c, -s]), jnp.stack([s, c])])


def rz(theta):
    """RZ(θ) = diag(e^{−iθ/2}, e^{iθ/2})."""
    e = jnp.exp(-0.5j * theta)
    z = jnp.zeros_like(e)
    return jnp.stack([jnp.stack([e, z]), jnp.stack([z, jnp.conj(e)])])


def cz_ladder_diagonal(n_qubits: int, dtype=jnp.float32, n_active=None) -> Shaped[Array, "..."]:
    """±1 diagonal of CZ(0,1)·CZ(1,2)⋯CZ(m−2,m−1) as a ``[2]*n`` tensor, m = ``n_active``
    (traced; default n): links beyond the active qubits are left out."""
    check_int("n_qubits", n_qubits, 1, MAX_QUBITS)
    m = n_qubits if n_active is None else n_active
    bits = jnp.indices((2,) * n_qubits)
    parity = jnp.zeros((2,) * n_qubits, jnp.int32)
    for q in range(n_qubits - 1):
        parity = parity + jnp.where(q + 1 < m, bits[q] * bits[q + 1], 0)
    return (1 - 2 * (parity % 2)).astype(dtype)


def _check_n_active(n_active, n: int) -> None:
    """A concrete ``n_active`` must be an integer in [0, n]; a traced one is left alone."""
    if n_active is None:
        return
    try:
        m = float(n_active)
    except jax.errors.ConcretizationTypeError:
        return  # traced: a sweep over m inside the caller's jit
    except (TypeError, ValueError):
        raise TypeError(f"n_active: expected an int in [0, {n}], got {n_active!r:.80}.") from None
    if not (0 <= m <= n and m == int(m)):
        raise ValueError(f"n_active: expected an int in [0, {n}] (thetas has {n} qubits), got {n_active!r}.")


def _precheck_gradients(n_qubits=None, n_active=None, **_):
    if isinstance(n_qubits, int) and not isinstance(n_qubits, bool) and 1 <= n_qubits <= MAX_QUBITS:
        _check_n_active(n_active, n_qubits)


def circuit_state(thetas: Real[ArrayLike, "L n 2"], n_active=None) -> Array:
    """|ψ(θ)⟩ of the layered RY–RZ–CZ ansatz, as a ``[2]*n`` complex tensor.

    Args:
      thetas: angles ``[L, n, 2]`` (RY angle, RZ angle) per layer and qubit; float32 →
        complex64, float64 → complex128.
      n_active: optional traced qubit count m ≤ n: qubits ≥ m get no gates (they stay in
        |0⟩), so one compiled circuit sweeps m = 1..n (the state is |ψ_m⟩ ⊗ |0…0⟩).

    Raises:
      ValueError: wrong shape, more than 12 qubits, a concrete ``n_active`` outside [0, n].
      TypeError: complex or non-numeric ``thetas`` (angles are real).
    """
    thetas = jnp.asarray(thetas)
    check_real_or_int("thetas", thetas)
    if thetas.ndim != 3 or thetas.shape[-1] != 2:
        raise ValueError(f"thetas: expected shape [L, n_qubits, 2], got {thetas.shape}.")
    n = thetas.shape[1]
    check_int("n_qubits", n, 1, MAX_QUBITS, what="thetas.shape[1]")
    _check_n_active(n_active, n)
    cdt = _cdtype(thetas.dtype)
    diag = cz_ladder_diagonal(n, thetas.dtype, n_active).ravel()
    if n_active is not None:
        thetas = jnp.where((jnp.arange(n) < n_active)[None, :, None], thetas, 0.0)
    state = jnp.zeros((2**n,), cdt).at[0].set(1.0)
    idx = jnp.arange(2**n)

    def gate(q, carry):  # RZ·RY on qubit q (traced q: one compiled body for all qubits)
        s, th = carry
        shift = n - 1 - q
        bit = (idx >> shift) & 1
        partner = s[idx ^ (1 << shift)]
        c, sn = jnp.cos(th[q, 0] / 2), jnp.sin(th[q, 0] / 2)
        phase = jnp.exp(-0.5j * th[q, 1] * (1 - 2 * bit).astype(th.dtype))  # RZ diagonal
        new = jnp.where(bit == 0, c * s - sn * partner, sn * partner + c * s)
        return (phase * new).astype(cdt), th

    def layer(s, th):
        s = lax.fori_loop(0, n, gate, (s, th))[0]
        return s * diag, None

    return lax.scan(layer, state, thetas)[0].reshape((2,) * n)


def pauli_expectation(state: Array, pauli: str) -> Array:
    """⟨ψ|P|ψ⟩ for a Pauli string such as ``"ZZII"`` (one letter per qubit), real.

    Args:
      state: a ``[2]*n`` statevector tensor (as :func:`circuit_state` returns); a real
        state is taken as complex.
      pauli: n letters from I, X, Y, Z (qubit 0 first).

    Raises:
      ValueError: ``state`` not a ``[2]*n`` tensor, length mismatch or letters outside I, X, Y, Z.
      TypeError: non-numeric ``state``.
    """
    state = jnp.asarray(state)
    shape = state.shape
    if not shape or any(s != 2 for s in shape):
        raise ValueError(
            f"state: expected a [2]*n_qubits tensor (as circuit_state returns; reshape a "
            f"2**n vector with .reshape((2,) * n)), got shape {shape}."
        )
    if jnp.issubdtype(state.dtype, jnp.floating):
        state = state.astype(_cdtype(state.dtype))
    elif not jnp.issubdtype(state.dtype, jnp.complexfloating):
        raise TypeError(f"state: expected a complex (or real floating) statevector, got dtype {state.dtype}.")
    n = state.ndim
    if not isinstance(pauli, str) or len(pauli) != n or set(pauli) - set("IXYZ"):
        raise ValueError(f"pauli: expected {n} letters from 'IXYZ', got {pauli!r}.")
    s = state
    for q, p in enumerate(pauli):
        if p != "I":
            s = _apply_1q(s, jnp.asarray(_PAULI[p], state.dtype), q)
    return jnp.real(jnp.vdot(state.ravel(), s.ravel(), precision=HIGHEST))


def local_pauli(n_qubits: int, sites=(0, 1)) -> str:
    """Pauli string with Z on ``sites`` and I elsewhere (default Z₀Z₁, or Z₀ for n = 1)."""
    check_int("n_qubits", n_qubits, 1, MAX_QUBITS)
    sites = [s for s in sites if s < n_qubits]
    return "".join("Z" if q in sites else "I" for q in range(n_qubits))


def circuit_energy(thetas: Float[Array, "L n 2"], pauli: str | None = None, n_active=None) -> Array:
    """E(θ) = ⟨ψ(θ)|H|ψ(θ)⟩ with H the Pauli string ``pauli`` (default Z₀Z₁)."""
    s = circuit_state(thetas, n_active)
    return pauli_expectation(s, pauli or local_pauli(thetas.shape[1]))


class BarrenSample(NamedTuple):
    """Gradients of random circuits.

    Attributes:
      grads: ``[m]`` ∂E/∂θ at the chosen angle, one per random circuit.
      energies: ``[m]`` E(θ).
    """

    grads: Float[Array, " m"]
    energies: Float[Array, " m"]


@cached(traced=("n_active",), precheck=_precheck_gradients)
def random_circuit_gradients(
    key: jax.Array,
    n_qubits: int,
    depth: int,
    samples: int,
    index=None,
    pauli: str | None = None,
    dtype=jnp.float32,
    n_active=None,
) -> BarrenSample:
    """∂E/∂θ_index for ``samples`` circuits with angles uniform in [0, 2π).

    Args:
      key: PRNG key.
      n_qubits: 1..12.
      depth: number of layers L ≥ 1.
      samples: number of random circuits (≥ 1).
      index: ``(layer, qubit, gate)`` of the differentiated angle; default the RY angle of
        qubit 0 in the middle layer.
      pauli: observable (default Z₀Z₁).
      dtype: float32 or float64 angles.
      n_active: optional traced number of active qubits (see :func:`circuit_state`); the
        observable must then act on active qubits only.

    Raises:
      ValueError: qubits outside 1..12, depth/samples < 1, index out of range.

    Example:
      >>> import jax
      >>> random_circuit_gradients(jax.random.PRNGKey(0), 2, 3, 5).grads.shape
      (5,)
    """
    check_int("n_qubits", n_qubits, 1, MAX_QUBITS)
    check_int("depth", depth)
    check_int("samples", samples)
    dtype = check_float_dtype("dtype", dtype)
    index = (depth // 2, 0, 0) if index is None else tuple(index)
    if len(index) != 3 or not (0 <= index[0] < depth and 0 <= index[1] < n_qubits and index[2] in (0, 1)):
        raise ValueError(f"index: expected (layer < {depth}, qubit < {n_qubits}, gate ∈ {{0,1}}), got {index!r}.")
    pauli = pauli or local_pauli(n_qubits)

    def one(k):
        th = jax.random.uniform(k, (depth, n_qubits, 2), dtype, 0.0, 2 * jnp.pi)
        # ∂E/∂θ_index by forward-mode autodiff (one jvp along the chosen angle)
        tangent = jnp.zeros_like(th).at[index].set(1.0)
        e, g = jax.jvp(lambda t: circuit_energy(t, pauli, n_active), (th,), (tangent,))
        return g, e

    g, e = jax.vmap(one)(jax.random.split(key, samples))
    return BarrenSample(g, e)

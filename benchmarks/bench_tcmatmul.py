"""W1 on tensor cores: the fused 3×TF32 Pallas kernel against true float32 and XLA's 3×TF32.

Question: can the end-to-end Jacobians of W1 (256 tanh MLPs, depth 32, width 256) reach 70 %
of the measured float32 peak at float32 accuracy? Each of the 256 × 31 products is a
256×256×256 matmul; cuBLAS's float32 (non-tensor-core) GEMM reaches ~50 % of peak at this
shape. Rows: the batched 256³ matmul alone, then the whole W1, for several kernel tilings
(bm, bn, bk, warps, stages), each with its error against float64.

    python benchmarks/bench_tcmatmul.py            # CUDA GPU
    python benchmarks/bench_tcmatmul.py --quick    # CPU: kernel in interpret mode, tiny sizes

Outcome on an H100 (RESULTS.md): the kernel is float32-accurate but slower than cuBLAS's
float32 GEMM at this shape, so vgtheory does not use it; it stays here as the experiment.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys

import jax

jax.config.update("jax_enable_x64", True)  # float64 references
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import vgtheory as vg  # noqa: E402
from jax.experimental import pallas  # noqa: E402
from jaxtyping import Array, Float  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import header, record, timed  # noqa: E402

HI = jax.lax.Precision.HIGHEST

# --- the kernel under test -------------------------------------------------------------------
# a·b ≈ a_hi b_hi + a_hi b_lo + a_lo b_hi with a_hi exact in TF32: three TF32 tensor-core
# products with float32 accumulation, split in registers by Triton's ``tf32x3`` input precision
# (Henry, Tang & Heinecke, ARITH 2019; CUTLASS "3xTF32"). Measured slower than true float32 at
# the W1 shape (benchmarks/RESULTS.md), so it stays here as an experiment, not a library path.
_X3 = jax.lax.DotAlgorithmPreset.TF32_TF32_F32_X3


def _kernel(a_ref, b_ref, o_ref, *, bk: int, precision):
    k = a_ref.shape[-1]

    def body(i, acc):
        a = a_ref[:, pallas.ds(i * bk, bk)]
        b = b_ref[pallas.ds(i * bk, bk), :]
        return acc + jnp.dot(a, b, precision=precision, preferred_element_type=jnp.float32)

    o_ref[...] = jax.lax.fori_loop(0, k // bk, body, jnp.zeros(o_ref.shape, jnp.float32))


def on_cuda() -> bool:
    """Whether the default backend is a CUDA GPU (where the Triton kernel runs)."""
    return jax.default_backend() == "gpu" and "nvidia" in jax.devices()[0].device_kind.lower()


@functools.partial(jax.jit, static_argnames=("block", "num_warps", "num_stages", "interpret", "kernel"))
def tc_matmul(
    a: Float[Array, "*b m k"],
    b: Float[Array, "*b k n"],
    *,
    block: tuple = (64, 64, 32),
    num_warps: int = 4,
    num_stages: int = 3,
    interpret: bool = False,
    kernel: bool | None = None,
) -> Float[Array, "*b m n"]:
    """``a @ b`` for float32 stacks, float32-accurate, on tensor cores where available.

    Args:
      a: ``[..., m, k]`` float32.
      b: ``[..., k, n]`` float32, same leading (batch) shape as ``a``.
      block: ``(bm, bn, bk)`` tile sizes; m, n, k must be multiples (else the XLA path).
      num_warps, num_stages: Triton launch parameters.
      interpret: run the kernel in Pallas interpret mode (any backend; for tests), with
        true float32 products in place of 3×TF32.
      kernel: force (True) or forbid (False) the Pallas kernel; default: on CUDA GPUs.

    Returns:
      ``[..., m, n]`` float32.
    """
    if a.dtype != jnp.float32 or b.dtype != jnp.float32:
        raise TypeError(f"a, b: expected float32 arrays, got {a.dtype} and {b.dtype}.")
    if a.ndim < 2 or a.shape[:-2] != b.shape[:-2] or a.shape[-1] != b.shape[-2]:
        raise ValueError(
            f"a, b: expected [..., m, k] and [..., k, n] with equal leading shapes, got {a.shape} and {b.shape}."
        )
    bm, bn, bk = block
    (m, k), n = a.shape[-2:], b.shape[-1]
    use = (on_cuda() or interpret) if kernel is None else kernel
    if not use or m % bm or n % bn or k % bk:
        return jnp.matmul(a, b, precision=jax.lax.Precision.HIGHEST)
    lead = a.shape[:-2]
    a3, b3 = a.reshape((-1, m, k)), b.reshape((-1, k, n))
    P = pallas
    params = {}
    if not interpret:
        from jax.experimental.pallas import triton as plt

        params = dict(compiler_params=plt.CompilerParams(num_warps=num_warps, num_stages=num_stages))
    out = P.pallas_call(
        functools.partial(_kernel, bk=bk, precision=jax.lax.Precision.HIGHEST if interpret else _X3),
        out_shape=jax.ShapeDtypeStruct((a3.shape[0], m, n), jnp.float32),
        grid=(a3.shape[0], m // bm, n // bn),
        in_specs=[
            P.BlockSpec((None, bm, k), lambda z, i, j: (z, i, 0)),
            P.BlockSpec((None, k, bn), lambda z, i, j: (z, 0, j)),
        ],
        out_specs=P.BlockSpec((None, bm, bn), lambda z, i, j: (z, i, j)),
        interpret=interpret,
        **params,
    )(a3, b3)
    return out.reshape((*lead, m, n))


# ---------------------------------------------------------------------------------------------
CONFIGS = [
    (64, 64, 32, 4, 3),
    (64, 64, 64, 4, 3),
    (128, 128, 32, 8, 3),
    (128, 64, 32, 4, 3),
    (64, 128, 32, 4, 3),
    (128, 128, 64, 8, 2),
    (64, 64, 32, 4, 4),
    (128, 128, 32, 4, 3),
]


def rel(x, ref):
    x = np.asarray(x, np.float64)
    return float(np.max(np.linalg.norm(x - ref, axis=(-2, -1)) / np.linalg.norm(ref, axis=(-2, -1))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--record", action="store_true")
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    E, L, n, pn = (4, 4, 64, 256) if a.quick else (256, 32, 256, 8192)
    interp = a.quick
    configs = [(32, 32, 32, 4, 3)] if a.quick else CONFIGS
    rows = []

    def show(*r):
        rows.append(r)
        print(" | ".join(str(v) for v in r), flush=True)

    m = jax.random.normal(jax.random.key(0), (pn, pn), jnp.float32)
    _, t, _ = timed(jax.jit(lambda x: jnp.matmul(x, x, precision=HI)), m, repeats=a.repeats)
    peak = 2 * pn**3 / t
    show(f"peak {pn}³ float32 highest", f"{t * 1e3:.2f} ms", "", f"{peak / 1e12:.1f} TFLOP/s")

    A = (jax.random.normal(jax.random.key(1), (E, n, n)) / np.sqrt(n)).astype(jnp.float32)
    B = (jax.random.normal(jax.random.key(2), (E, n, n)) / np.sqrt(n)).astype(jnp.float32)
    ref = np.matmul(np.asarray(A, np.float64), np.asarray(B, np.float64))
    flops = E * 2 * n**3
    cands = [
        ("batched matmul, highest", lambda x, y: jnp.matmul(x, y, precision=HI)),
        (
            "batched matmul, XLA TF32_TF32_F32_X3",
            lambda x, y: jnp.matmul(x, y, precision=jax.lax.DotAlgorithmPreset.TF32_TF32_F32_X3),
        ),
    ]
    cands += [
        (
            f"batched matmul, Pallas 3×TF32 {c}",
            (lambda c: lambda x, y: tc_matmul(x, y, block=c[:3], num_warps=c[3], num_stages=c[4], interpret=interp))(c),
        )
        for c in configs
    ]
    for name, f in cands:
        try:
            out, t, comp = timed(jax.jit(f), A, B, repeats=a.repeats)
            show(
                name,
                f"{t * 1e3:.3f} ms",
                f"err {rel(out, ref):.1e}",
                f"{flops / t / peak:.0%} of fp32 peak",
                f"compile {comp:.2f} s",
            )
        except Exception as e:  # noqa: BLE001 — report and go on
            show(name, "failed", f"{type(e).__name__}: {str(e)[:200]}")

    act = vg.activation("tanh")
    keys = jax.random.split(jax.random.key(1), E)
    params = jax.vmap(lambda k: vg.init_mlp(k, [n] * (L + 1), sigma_w2=1.0))(keys)
    x = jax.random.normal(jax.random.key(2), (E, n), jnp.float32)
    p64 = jax.tree_util.tree_map(lambda v: v.astype(jnp.float64), params)
    J64 = np.asarray(jax.jit(jax.vmap(lambda p, x: vg.mlp_jacobian(p, x, act)))(p64, x.astype(jnp.float64)))
    jflops = E * L * 2 * n**3

    def lib(precision):
        return jax.vmap(lambda p, x: vg.mlp_jacobian(p, x, act, precision))

    def batched(c):  # layer Jacobians of all nets, then the chain as one batched kernel per layer
        def f(p, x):
            js = jax.vmap(lambda p, x: vg.layer_jacobians(p, x, act))(p, x)  # [E, L, n, n]
            mm = lambda u, v: tc_matmul(u, v, block=c[:3], num_warps=c[3], num_stages=c[4], interpret=interp)
            return jax.lax.scan(lambda J, M: (mm(M, J), None), js[:, 0], jnp.swapaxes(js[:, 1:], 0, 1))[0]

        return f

    w1 = [
        (
            "W1 vmap(jacfwd), highest",
            jax.vmap(lambda p, x: vg.input_jacobian(lambda z: vg.mlp_apply(p, z, act), x, mode="fwd")),
        ),
        ("W1 vg.mlp_jacobian, highest", lib("highest")),
    ]
    w1 += [(f"W1 chain, Pallas 3×TF32 {c}", batched(c)) for c in configs]
    for name, f in w1:
        try:
            out, t, comp = timed(jax.jit(f), params, x, repeats=a.repeats)
            show(
                name,
                f"{t * 1e3:.3f} ms",
                f"err {rel(out, J64):.1e}",
                f"{jflops / t / peak:.0%} of fp32 peak",
                f"compile {comp:.2f} s",
            )
        except Exception as e:  # noqa: BLE001
            show(name, "failed", f"{type(e).__name__}: {str(e)[:200]}")

    lines = [
        header(f"W1 on tensor cores: {E} tanh MLPs, depth {L}, width {n}; fused 3×TF32 (Pallas)"),
        "tiles: (bm, bn, bk, warps, stages); err: max over nets of ‖J − J64‖_F/‖J64‖_F\n",
        "| row | time | error | fraction of the float32 peak | compile |",
        "|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(str(v) for v in r) + " |" for r in rows]
    text = "\n".join(lines)
    print(text)
    if a.record:
        record(text)


if __name__ == "__main__":
    main()

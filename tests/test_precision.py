"""Precision is explicit: float32 at ``"highest"`` agrees with float64; TF32 is never used.

Three kinds of test:

* a static scan of ``vgtheory/**/*.py`` that lists every matmul-like call
  (``jnp.matmul/dot/einsum/tensordot/vdot/inner/linalg.multi_dot``, ``lax.dot_general``, the
  ``@`` operator) that neither passes ``precision=`` nor sits lexically inside a
  ``with jax.default_matmul_precision(...)`` block. On GPUs such a call runs in TF32
  (10-bit mantissa) by default, which silently spoils every float32 theory check. A line
  may be exempted with a trailing ``# precision-ok: <reason>`` comment (host numpy, integer
  or boolean arrays), which the scan reports separately.
* float32 (``precision="highest"``) against float64 for every exact quantity on small
  problems, at tolerances stated from float32's unit roundoff (u = 2⁻²⁴ ≈ 6e-8) times a
  modest condition/depth factor.
* the explicit precision overrides the ambient default: results computed under
  ``jax.default_matmul_precision("tensorfloat32")`` equal the plain float32-highest ones bit
  for bit (on CPU both are true fp32; on a GPU this is what catches a missing argument).
"""

from __future__ import annotations

import ast
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import vgtheory as vg

ROOT = pathlib.Path(vg.__file__).parent
MATMULS = {"matmul", "dot", "einsum", "tensordot", "vdot", "inner", "multi_dot", "dot_general"}
JAX_BASES = {"jnp", "lax", "jax", "numpy", "linalg"}  # jnp.x, lax.x, jax.lax.x, jax.numpy.x, jnp.linalg.x


def _base_names(node: ast.AST) -> list[str]:
    names = []
    while isinstance(node, ast.Attribute):
        names.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        names.append(node.id)
    return names[::-1]  # e.g. ["jax", "numpy", "matmul"]


def _is_jax_matmul(call: ast.Call) -> bool:
    parts = _base_names(call.func)
    if len(parts) < 2 or parts[-1] not in MATMULS:
        return False
    if parts[0] in ("np", "onp", "scipy", "math"):  # host numpy has no precision argument
        return False
    return parts[0] in ("jnp", "lax", "jax") and all(p in JAX_BASES for p in parts[:-1])


def _is_precision_context(with_node: ast.With) -> bool:
    for item in with_node.items:
        e = item.context_expr
        if isinstance(e, ast.Call) and _base_names(e.func)[-1:] == ["default_matmul_precision"]:
            return True
    return False


def _host_numpy(node: ast.BinOp) -> bool:
    """``np.asarray(a) @ np.asarray(b)``-style products run on the host in numpy: no TF32."""

    def is_np(e):
        return isinstance(e, ast.Call) and _base_names(e.func)[:1] in (["np"], ["numpy"], ["onp"])

    return is_np(node.left) or is_np(node.right)


def scan_file(path: pathlib.Path, root: pathlib.Path = ROOT.parent) -> tuple[list[str], list[str]]:
    """(offenders, exempted) as ``file:line: what: code`` strings."""
    src = path.read_text()
    lines = src.splitlines()
    tree = ast.parse(src, filename=str(path))
    offenders, exempted = [], []
    rel = path.relative_to(root)

    def report(node, what):
        line = lines[node.lineno - 1]
        entry = f"{rel}:{node.lineno}: {what}: {line.strip()[:100]}"
        (exempted if "# precision-ok" in line else offenders).append(entry)

    def visit(node, guarded):
        if isinstance(node, (ast.With, ast.AsyncWith)) and _is_precision_context(node):
            guarded = True
        if not guarded:
            if isinstance(node, ast.Call) and _is_jax_matmul(node):
                if not any(kw.arg == "precision" for kw in node.keywords):
                    report(node, ".".join(_base_names(node.func)) + " without precision=")
            elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult) and not _host_numpy(node):
                report(node, "@ operator (no precision argument possible)")
        for child in ast.iter_child_nodes(node):
            visit(child, guarded)

    visit(tree, False)
    return offenders, exempted


def scan_library() -> tuple[list[str], list[str]]:
    offenders, exempted = [], []
    for path in sorted(ROOT.rglob("*.py")):
        o, e = scan_file(path)
        offenders += o
        exempted += e
    return offenders, exempted


def test_scanner_finds_what_it_should(tmp_path):
    """The scanner itself: flags bare calls and @, accepts precision= and guarded blocks."""
    src = tmp_path / "m.py"
    src.write_text(
        "import jax, jax.numpy as jnp, numpy as np\n"
        "from jax import lax\n"
        "def f(a, b):\n"
        "    x = jnp.matmul(a, b)\n"  # 4: flagged
        "    y = jnp.einsum('ij,jk->ik', a, b, precision='highest')\n"  # ok
        "    z = a @ b\n"  # 6: flagged
        "    w = lax.dot_general(a, b, (((1,), (0,)), ((), ())))\n"  # 7: flagged
        "    with jax.default_matmul_precision('highest'):\n"
        "        u = a @ b + jnp.dot(a, b)\n"  # ok
        "    v = np.dot(a, b)\n"  # host numpy: ignored
        "    t = jax.numpy.tensordot(a, b, 1)\n"  # 11: flagged
        "    s = a @ b  # precision-ok: host arrays\n"  # exempted
        "    r = np.asarray(a) @ np.asarray(b)\n"  # host numpy: ignored
        "    return x, y, z, w, u, v, t, s, r\n"
    )
    offenders, exempted = scan_file(src, tmp_path)
    lines = sorted(int(o.split(":")[1]) for o in offenders)
    assert lines == [4, 6, 7, 11], offenders
    assert len(exempted) == 1 and ":12:" in exempted[0]


def test_no_matmul_without_explicit_precision():
    """Every library matmul states its precision (jnp.vdot lowers to dot_general like any
    matmul); one at the ambient precision runs in TF32 on a GPU for float32 operands."""
    offenders, _ = scan_library()
    assert not offenders, "matmuls without explicit precision (TF32 on GPUs):\n" + "\n".join(offenders)


# ----------------------------------------------------------------------------- float32 vs float64
def _mlp(key, widths, dtype, init="gaussian", sigma_w2=1.0, sigma_b2=0.05):
    return vg.init_mlp(key, widths, init=init, sigma_w2=sigma_w2, sigma_b2=sigma_b2, dtype=dtype)


def _cast(tree, dtype):
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype), tree)


U32 = float(jnp.finfo(jnp.float32).eps) / 2  # unit roundoff of float32


@pytest.mark.parametrize("act", ["tanh", "relu"])
def test_gradient_flow_f32_vs_f64(act):
    L, n = 12, 16
    k1, k2, k3 = jax.random.split(jax.random.key(3), 3)
    p64 = _mlp(k1, [n] * (L + 1), jnp.float64, sigma_w2=1.5)
    x64 = jax.random.normal(k2, (n,), jnp.float64)
    g64 = jax.random.normal(k3, (n,), jnp.float64)
    p32, x32, g32 = _cast(p64, jnp.float32), x64.astype(jnp.float32), g64.astype(jnp.float32)
    f = jax.jit(vg.gradient_flow, static_argnums=2)
    r32, r64 = f(p32, x32, act, g32), f(p64, x64, act, g64)
    assert r32.log_sq_norms.dtype == jnp.float32
    # log‖g_l‖²: each layer adds O(n·u) relative error to the norm; stated tolerance 2·L·n·u
    # in log units (≈ 2e-5), far below any statistical tolerance of the claims
    tol = 2 * L * n * U32
    np.testing.assert_allclose(np.asarray(r32.log_sq_norms, np.float64), np.asarray(r64.log_sq_norms), atol=tol)
    np.testing.assert_allclose(
        np.asarray(r32.weight_log_sq_norms, np.float64), np.asarray(r64.weight_log_sq_norms), atol=tol
    )


@pytest.mark.parametrize("act", ["sigmoid", "relu"])
def test_mlp_jacobian_f32_vs_f64(act):
    L, n = 8, 12
    k1, k2 = jax.random.split(jax.random.key(4))
    p64 = _mlp(k1, [n] * (L + 1), jnp.float64, sigma_w2=1.0)
    x64 = jax.random.normal(k2, (n,), jnp.float64)
    j64 = vg.mlp_jacobian(p64, x64, act)
    j32 = jax.jit(vg.mlp_jacobian, static_argnums=2)(_cast(p64, jnp.float32), x64.astype(jnp.float32), act)
    assert j32.dtype == jnp.float32
    # normwise: ‖J32 − J64‖_F ≤ 4·L·n·u·∏‖D W‖ (product of layer norms bounds the error growth)
    lj = vg.layer_jacobians(p64, x64, act)
    bound = float(jnp.prod(jnp.linalg.norm(lj, ord=2, axis=(1, 2))))
    err = float(jnp.linalg.norm(j32.astype(jnp.float64) - j64))
    assert err <= 4 * L * n * U32 * bound, (err, bound)


def test_layer_jacobians_and_input_jacobian_f32_vs_f64():
    n, L = 10, 5
    k1, k2 = jax.random.split(jax.random.key(5))
    p64 = _mlp(k1, [n] * (L + 1), jnp.float64)
    x64 = jax.random.normal(k2, (n,), jnp.float64)
    p32, x32 = _cast(p64, jnp.float32), x64.astype(jnp.float32)
    lj32, lj64 = vg.layer_jacobians(p32, x32, "tanh"), vg.layer_jacobians(p64, x64, "tanh")
    np.testing.assert_allclose(np.asarray(lj32, np.float64), np.asarray(lj64), atol=50 * n * U32)
    f32 = lambda x: vg.mlp_apply(p32, x, "tanh")
    f64 = lambda x: vg.mlp_apply(p64, x, "tanh")
    for mode in ("rev", "fwd"):
        a = vg.input_jacobian(f32, x32, mode=mode)
        b = vg.input_jacobian(f64, x64, mode=mode)
        assert a.dtype == jnp.float32
        np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b), atol=50 * L * n * U32)


def _spectrum_fn():
    from vgtheory import _spectrum

    return _spectrum


@pytest.mark.parametrize("method", ["svd", "gram", "auto"])
def test_singular_values_f32_vs_f64(method):
    sp = _spectrum_fn()
    a64 = jax.random.normal(jax.random.key(6), (12, 12), jnp.float64) / np.sqrt(12)
    s32 = sp.singular_values(a64.astype(jnp.float32), method=method)
    s64 = jnp.linalg.svd(a64, compute_uv=False)
    assert s32.dtype == jnp.float32
    smax = float(s64[0])
    # Weyl: |σ_i(A+E) − σ_i(A)| ≤ ‖E‖₂ with ‖E‖ ≈ c·n·u·‖A‖ (svd); the Gram route squares the
    # condition number, so small singular values get only ≈ √(n u)·σ_max absolute accuracy
    tol = 20 * 12 * U32 * smax if method != "gram" else 20 * np.sqrt(12 * U32) * smax
    np.testing.assert_allclose(np.sort(np.asarray(s32, np.float64))[::-1], np.asarray(s64), atol=tol)


def test_log_singular_values_f32_vs_f64():
    from vgtheory._logspectrum import log_singular_values

    L, n = 40, 6
    f64 = jax.random.normal(jax.random.key(7), (L, n, n), jnp.float64) / np.sqrt(n)
    l32 = log_singular_values(f64.astype(jnp.float32))
    l64 = log_singular_values(f64)
    l32, l64 = l32.log_sv, l64.log_sv
    assert l32.dtype == jnp.float32
    # log domain, QR-stabilised: each of L factors contributes O(n·u) to every log σ_i
    np.testing.assert_allclose(
        np.sort(np.asarray(l32, np.float64)), np.sort(np.asarray(l64)), atol=20 * L * n * U32 * 10
    )


def test_lyapunov_f32_vs_f64_contracting():
    """Gain 0.5: the trajectory is stable, so float32 tracks float64 to rounding level."""
    n, T = 6, 200
    params64 = vg.init_rnn(jax.random.key(9), n, gain=0.5, dtype=jnp.float64)
    h0 = 0.3 * jnp.ones(n)
    r64 = vg.lyapunov_spectrum(vg.rnn_step, params64, h0.astype(jnp.float64), steps=T)
    r32 = vg.lyapunov_spectrum(vg.rnn_step, _cast(params64, jnp.float32), h0.astype(jnp.float32), steps=T)
    np.testing.assert_allclose(np.asarray(r32.exponents, np.float64), np.asarray(r64.exponents), atol=1e-4)


def test_lanczos_f32_vs_f64():
    from vgtheory._lanczos import lanczos_eigh

    n = 20
    a = jax.random.normal(jax.random.key(10), (n, n), jnp.float64)
    h64 = (a + a.T) / 2
    h32 = h64.astype(jnp.float32)
    ev = np.linalg.eigvalsh(np.asarray(h64))
    v0 = jax.random.normal(jax.random.key(12), (n,), jnp.float64)
    norm = float(np.max(np.abs(ev)))
    for which, ref in (("largest", ev[::-1][:3]), ("smallest", ev[:3])):
        r64 = lanczos_eigh(lambda v: jnp.matmul(h64, v, precision="highest"), v0, 3, which=which, num_iters=n)
        r32 = lanczos_eigh(
            lambda v: jnp.matmul(h32, v, precision="highest"), v0.astype(jnp.float32), 3, which=which, num_iters=n
        )
        np.testing.assert_allclose(np.asarray(r64.values), ref, atol=1e-10 * norm)
        # full reorthogonalisation: Ritz values backward-stable, error ≈ c·n·u·‖H‖ (c = 50)
        np.testing.assert_allclose(np.asarray(r32.values, np.float64), ref, atol=50 * n * U32 * norm)


# ----------------------------------------------------------------------------- ambient TF32 is overridden
def _f32_problem():
    L, n = 10, 32
    k1, k2, k3 = jax.random.split(jax.random.key(11), 3)
    p = _mlp(k1, [n] * (L + 1), jnp.float32, sigma_w2=2.0)
    return p, jax.random.normal(k2, (n,), jnp.float32), jax.random.normal(k3, (n,), jnp.float32)


def test_explicit_precision_overrides_ambient_tf32():
    p, x, g = _f32_problem()
    gf = jax.jit(vg.gradient_flow, static_argnums=2)
    mj = jax.jit(vg.mlp_jacobian, static_argnums=2)
    ref_flow, ref_jac = gf(p, x, "relu", g), mj(p, x, "relu")
    with jax.default_matmul_precision("tensorfloat32"):
        # fresh traces under the ambient setting (the setting is part of the jit cache key)
        flow = jax.jit(vg.gradient_flow, static_argnums=2)(p, x, "relu", g)
        jac = jax.jit(vg.mlp_jacobian, static_argnums=2)(p, x, "relu")
        eager_flow = vg.gradient_flow(p, x, "relu", g)
    ref_eager = vg.gradient_flow(p, x, "relu", g)  # eager and jitted may differ in the last bit
    np.testing.assert_array_equal(np.asarray(flow.log_sq_norms), np.asarray(ref_flow.log_sq_norms))
    np.testing.assert_array_equal(np.asarray(flow.weight_log_sq_norms), np.asarray(ref_flow.weight_log_sq_norms))
    np.testing.assert_array_equal(np.asarray(eager_flow.log_sq_norms), np.asarray(ref_eager.log_sq_norms))
    np.testing.assert_array_equal(np.asarray(jac), np.asarray(ref_jac))


def test_tf32_would_be_detected():
    """Sanity of the previous test: on a GPU, TF32 matmuls differ from highest ones.

    On CPU both are exact fp32, so this only documents the expectation (skipped there).
    """
    if jax.default_backend() != "gpu":
        pytest.skip("TF32 exists only on GPUs; on CPU the ambient setting has no effect")
    a = jax.random.normal(jax.random.key(0), (256, 256), jnp.float32)
    hi = jnp.matmul(a, a, precision="highest")
    with jax.default_matmul_precision("tensorfloat32"):
        lo = jax.jit(lambda a: a @ a)(a)
    assert not np.array_equal(np.asarray(hi), np.asarray(lo))

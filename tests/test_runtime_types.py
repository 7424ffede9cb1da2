"""The jaxtyping annotations hold at run time on valid calls.

The package is imported under ``jaxtyping.install_import_hook("vgtheory", "beartype.beartype")``
in a fresh interpreter (this process imported it without the hook) and a handful of public
calls run with the input kinds the docs allow: NumPy arrays and Python scalars as well as JAX
arrays, ``chunk_size="auto"``. A wrong annotation (one that rejects a documented input, or a
return type the code does not produce) fails here with beartype's message.

The hook is not enabled for the whole suite: many tests check the library's own error
messages for bad input (ValueError/TypeError naming the argument), which the runtime check
would pre-empt with a TypeCheckError.
"""

import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("beartype")

SCRIPT = textwrap.dedent("""
    import warnings
    warnings.simplefilter("ignore", DeprecationWarning)   # beartype: typing.Callable (PEP 585)
    import jax
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_numpy_rank_promotion", "raise")
    from jaxtyping import install_import_hook
    install_import_hook("vgtheory", "beartype.beartype")
    import jax.numpy as jnp
    import numpy as np
    import vgtheory as vg
    from vgtheory import _spectrum
    assert getattr(_spectrum.spectrum, "__wrapped__", None) is not None, "hook not active"

    a = np.diag([3.0, -1.0, 2.0])                       # NumPy input to _spectrum
    assert vg.singular_values(a, method="svd").tolist() == [3.0, 2.0, 1.0]
    assert round(float(vg.spectrum(a).condition), 6) == 3.0
    assert round(float(vg.condition_number(jnp.asarray(a))), 6) == 3.0
    assert round(float(vg.jjt_moments(a).mean), 6) == round((9 + 1 + 4) / 3, 6)
    d = vg.spectral_density(np.arange(10), bins=5)      # integer NumPy values are allowed
    assert abs(float(np.sum(d.density * np.diff(d.edges))) - 1) < 1e-12

    fn = lambda k: {"x": jax.random.normal(k), "v": jax.random.normal(k, (3,))}
    r = vg.ensemble(fn, jax.random.key(0), 64, chunk_size="auto")
    assert r.n == 64
    r = vg.ensemble(fn, jax.random.key(0), 64, chunk_size=16)
    assert r.n == 64

    mf = vg.theory.mean_field("tanh", 1.0, 0.0)
    assert mf.phase_name == "critical"
    p = vg.init_mlp(jax.random.key(1), [4] * 4)
    gf = vg.gradient_flow(p, jnp.ones(4), "tanh", jnp.ones(4))
    assert bool(gf.finite)
    ls = vg.log_singular_values(jnp.broadcast_to(jnp.diag(jnp.array([2.0, 0.5])), (50, 2, 2)))
    assert [round(float(v), 6) for v in ls.log_sv] == [round(50 * np.log(2), 6), round(-50 * np.log(2), 6)]
    print("OK")
""")


def test_public_calls_pass_runtime_type_checks():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0 and out.stdout.strip().endswith("OK"), out.stdout[-3000:] + out.stderr[-6000:]

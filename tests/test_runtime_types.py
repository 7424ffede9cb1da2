"""The jaxtyping annotations hold at run time.

The whole suite runs with the checks on: ``conftest.py`` imports ``vgtheory`` under
``jaxtyping.install_import_hook("vgtheory", "beartype.beartype")``, so every call made by any
test checks its arguments and return value, and a wrong annotation fails the tests that call
the function. The library's own argument errors come first (the bad-input tests assert
them): a call that fails its type check is run again with the checks off, and the library's
error, if it raises one, is what the test sees (with the type-check error as its context).
The tests below check that mechanism.

``test_public_calls_pass_runtime_type_checks`` also imports the package under the plain hook
in a fresh interpreter and makes a handful of public calls with the input kinds the docs
allow (NumPy arrays and Python scalars as well as JAX arrays, ``chunk_size="auto"``).
"""

import os
import subprocess
import sys
import textwrap

import jax.numpy as jnp
import jaxtyping
import pytest
from jaxtyping import Array, Float, TypeCheckError

import vgtheory as vg

beartype = pytest.importorskip("beartype")
CHECKED = os.environ.get("VGTHEORY_TYPECHECK", "1") != "0"
needs_checks = pytest.mark.skipif(not CHECKED, reason="VGTHEORY_TYPECHECK=0")


@needs_checks
def test_suite_runs_with_type_checks():
    from vgtheory import _spectrum

    assert _spectrum.spectrum.__wrapped__ is not None  # decorated by the import hook
    with pytest.raises(ValueError, match=r"^a: expected a matrix") as err:
        vg.spectrum(jnp.ones(3))  # Float[ArrayLike, "... m n"] rejects a vector, and so does spectrum
    assert isinstance(err.value.__context__, TypeCheckError)  # the check ran; the library's message won


@needs_checks
def test_wrong_annotation_fails_and_library_error_wins():
    checked = jaxtyping.jaxtyped(typechecker=beartype.beartype)  # as the import hook applies it (conftest.py)

    @checked
    def total(x: Float[Array, " n"]) -> Float[Array, " n"]:
        return jnp.sum(x)  # a scalar: the return annotation is wrong

    with pytest.raises(TypeCheckError):
        total(jnp.ones(3))

    @checked
    def first(x: Float[Array, " n"]) -> Float[Array, ""]:
        if jnp.ndim(x) != 1:
            raise ValueError(f"x: expected a vector, got shape {jnp.shape(x)}.")
        return x[0]

    assert float(first(jnp.arange(3.0) + 2)) == 2.0
    with pytest.raises(ValueError, match=r"^x: expected a vector") as err:
        first(jnp.ones((2, 2)))
    assert isinstance(err.value.__context__, TypeCheckError)


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

"""Regression tests for the claims' ``--full`` settings on CPU (issue 13, item 6).

* S17 hung in a futex wait: Flax's LSTMCell draws four orthogonal kernels (four QRs);
  vmapped over draws they became four concurrent *batched* LAPACK calls, and jaxlib 0.10's
  batched kernels block an XLA:CPU pool thread while waiting for pieces queued on the same
  pool, so with ≥ (pool size) of them in flight nothing ran (2 threads on a 2-core machine).
  The parameters are now drawn one draw at a time. Run in a subprocess with a timeout, so a
  regression fails instead of hanging the suite; the old vmapped draw at this setting
  (N = 64, 32 draws, 30 calls) hung 3 times out of 3 on a 2-core machine.
* L1 (and S3, S4) allocated every member at once (86 GB for L1 at full settings); their
  members now stream through ``vg.ensemble`` in memory-bounded chunks.
"""

import functools
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import pytest

from vgtheory import _ensemble
from vgtheory.claims import foundation

_S17_TWICE = textwrap.dedent("""
    import jax, jax.numpy as jnp
    jax.config.update("jax_enable_x64", True)
    from vgtheory.claims.lyapunov import _lstm_params_one_by_one, _s17_rows

    draw = jax.jit(lambda ks: _lstm_params_one_by_one(ks, 64, 2, 0.0, jnp.float64))
    for i in range(30):  # the vmapped draw deadlocked within a few calls here
        jax.block_until_ready(draw(jax.random.split(jax.random.key(i), 32)))
    for i in range(2):   # the claim's own computation, twice in one process
        rows = _s17_rows(jax.random.key(i), 64, 1, 2, 32)
        assert rows[0].estimate < 1e-10, rows[0]
    print("ok")
""")


def test_s17_twice_in_one_process_does_not_hang():
    try:
        out = subprocess.run(
            [sys.executable, "-X", "faulthandler", "-c", _S17_TWICE], capture_output=True, text=True, timeout=300
        )
    except subprocess.TimeoutExpired as e:  # a deadlock: no CPU used, never returns
        pytest.fail(f"S17 at N = 64, 32 draws did not finish in 300 s (deadlock?)\n{(e.stderr or '')[-2000:]}")
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-3000:]


def test_l1_full_members_go_through_the_ensemble_in_chunks(monkeypatch):
    seen = {}

    def fake(fn, key, n, *, chunk_size=None, keep_samples=False, progress=None, **kw):
        seen.update(n=n, chunk_size=chunk_size, keep_samples=keep_samples)
        return "result"

    monkeypatch.setattr(_ensemble, "ensemble", fake)
    settings = ((1.5, 0.05), (2.5, 0.05))
    assert foundation._l1_ensemble(jax.random.key(0), settings, m=512, n=512, L=40, burn=20, full=True) == "result"
    assert seen == {"n": 512, "chunk_size": "auto", "keep_samples": True}


@pytest.mark.slow  # three compilations at n = 512, L = 40: minutes on a shared 2-core CPU
def test_l1_full_chunk_fits_the_memory_budget():
    """At L1's full size (n = 512, L = 40, both settings per member) the auto chunk's compiled
    working set (XLA memory analysis) stays within the CPU budget; all 512 members did not."""
    s2s, b2s = jnp.asarray([1.5, 2.5], jnp.float32), jnp.asarray([0.05, 0.05], jnp.float32)
    fn = functools.partial(foundation._l1_member, s2s=s2s, b2s=b2s, n=512, L=40, burn=20)
    key, budget = jax.random.key(0), 2 << 30
    chunk = _ensemble.auto_chunk_size(fn, key, 512, budget)
    assert 1 <= chunk < 512

    def working_set(c):
        keys = _ensemble._member_keys(key, jnp.asarray(0, jnp.uint32), c)
        m = jax.jit(jax.vmap(fn)).lower(keys).compile().memory_analysis()
        return m.temp_size_in_bytes + m.output_size_in_bytes + m.argument_size_in_bytes

    assert working_set(chunk) <= budget  # (chunk < 512: all members at once would not fit)

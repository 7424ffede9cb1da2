"""Multi-process ensembles (jax.distributed on localhost): every process returns the numbers
of a one-process run, bit for bit, including a run resumed from a one-process checkpoint.

Each configuration launches real Python processes that call
``jax.distributed.initialize(coordinator_address="127.0.0.1:<port>", ...)``; CPU collectives
go through gloo. Every subprocess has a timeout, so a hang fails instead of blocking.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from vgtheory import _ensemble

ROOT = pathlib.Path(__file__).resolve().parents[1]
N, CHUNK = 50, 6  # 9 chunks, the last one ragged (2 members); with 2 processes one idles in the last round
TIMEOUT = 90

SCRIPT = textwrap.dedent("""
    import sys
    import jax, jax.numpy as jnp, numpy as np
    jax.config.update("jax_enable_x64", True)
    __SIZES__
    mode, pid, nproc, port, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
    if mode == "multi":
        jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=nproc,
                                   process_id=pid, initialization_timeout=60)
        assert jax.process_count() == nproc and jax.process_index() == pid
    import vgtheory as vg
    from vgtheory import _ensemble

    def fn(k):
        w = jax.random.normal(k, (8, 8), jnp.float32) / 8**0.5
        x = jnp.linspace(-1.0, 1.0, 8, dtype=jnp.float32)
        for _ in range(3):
            x = jnp.tanh(jnp.matmul(w, x, precision="highest"))
        return {"x": x, "q": jnp.sum(x * x), "d": jax.random.normal(k, (2,), jnp.float64),
                "i": jax.random.randint(k, (), -2, 3)}

    def save(name, r):
        leaves = {}
        for f in ("mean", "se", "log_mean", "log_se", "nonfinite", "samples", "skewness", "kurtosis", "top",
                  "top_share"):
            for j, x in enumerate(jax.tree_util.tree_leaves(getattr(r, f))):
                leaves[f"{f}{j}"] = np.asarray(x)
        np.savez(f"{out}/{name}.npz", n=r.n, **leaves)

    key = jax.random.key(11)
    if mode == "single":  # reference run, and a checkpoint of a run interrupted after 3 chunks
        save("full", vg.ensemble(fn, key, N, chunk_size=CHUNK, keep_samples=True))
        real_add, calls = _ensemble._Sums.add, []
        def flaky_add(self, chunk):
            calls.append(1)
            if len(calls) == 4:
                raise KeyboardInterrupt
            return real_add(self, chunk)
        _ensemble._Sums.add = flaky_add
        try:
            vg.ensemble(fn, key, N, chunk_size=CHUNK, checkpoint=f"{out}/ck.npz")
        except KeyboardInterrupt:
            pass
        sys.exit(0)
    save(f"full_p{pid}", vg.ensemble(fn, key, N, chunk_size=CHUNK, keep_samples=True))
    ck = f"{out}/ck.npz" if pid == 0 else None  # only process 0 is given the checkpoint
    save(f"resumed_p{pid}", vg.ensemble(fn, key, N, chunk_size=CHUNK, checkpoint=ck))
    try:
        vg.ensemble(fn, key, N + pid, chunk_size=CHUNK)
        msg = "no error"
    except ValueError as e:
        msg = str(e)
    open(f"{out}/mismatch_p{pid}.txt", "w").write(msg)
    try:  # process 0's checkpoint belongs to another n: every process raises
        vg.ensemble(fn, key, N + 1, chunk_size=CHUNK, checkpoint=ck)
        msg = "no error"
    except ValueError as e:
        msg = str(e)
    open(f"{out}/foreign_checkpoint_p{pid}.txt", "w").write(msg)
""").replace("__SIZES__", f"N, CHUNK = {N}, {CHUNK}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(mode: str, nproc: int, ndev: int, out: pathlib.Path) -> list:
    """Starts ``nproc`` processes with ``ndev`` CPU devices each."""
    env = dict(
        os.environ,
        JAX_PLATFORMS="cpu",
        XLA_FLAGS=f"--xla_force_host_platform_device_count={ndev}",
        PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    )
    port = str(_free_port())
    return [
        (
            f"{mode} {nproc}×{ndev} process {i}",
            subprocess.Popen(
                [sys.executable, "-c", SCRIPT, mode, str(i), str(nproc), port, str(out)],
                env=env,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            ),
        )
        for i in range(nproc)
    ]


def _wait(procs: list) -> None:
    """Waits for all (killing all after ``TIMEOUT`` s, so a hang fails) and checks they succeeded."""
    try:
        logs = [p.communicate(timeout=TIMEOUT)[0] for _, p in procs]
    except subprocess.TimeoutExpired:
        for _, p in procs:
            p.kill()
        pytest.fail(f"multi-process ensemble hung for > {TIMEOUT} s")
    for (name, p), log in zip(procs, logs):
        assert p.returncode == 0, f"{name} failed:\n{log[-3000:]}"


def _assert_same(a: pathlib.Path, b: pathlib.Path, samples: bool = True) -> None:
    with np.load(a) as x, np.load(b) as y:
        names = [k for k in x.files if samples or not k.startswith("samples")]
        assert set(names) <= set(y.files)
        for k in names:
            np.testing.assert_array_equal(x[k], y[k], err_msg=f"{b.name}: {k}")
            assert x[k].dtype == y[k].dtype


CONFIGS = [(2, 1), (2, 2)]  # processes × local devices


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One-process reference (and an interrupted checkpoint), then all configurations at once."""
    out = tmp_path_factory.mktemp("multihost")
    _wait(_start("single", 1, 1, out))
    with np.load(out / "ck.npz") as f:
        assert int(f["chunks_done"]) == 3  # interrupted in the 4th chunk
    for nproc, ndev in CONFIGS:  # a one-process checkpoint, resumed by several processes
        (out / f"{nproc}x{ndev}").mkdir()
        shutil.copy(out / "ck.npz", out / f"{nproc}x{ndev}" / "ck.npz")
    _wait([p for nproc, ndev in CONFIGS for p in _start("multi", nproc, ndev, out / f"{nproc}x{ndev}")])
    return out


@pytest.mark.parametrize("nproc,ndev", CONFIGS)
def test_processes_return_single_process_numbers(runs, nproc, ndev):
    out = runs / f"{nproc}x{ndev}"
    for pid in range(nproc):
        _assert_same(runs / "full.npz", out / f"full_p{pid}.npz")
        _assert_same(runs / "full.npz", out / f"resumed_p{pid}.npz", samples=False)
        msg = (out / f"mismatch_p{pid}.txt").read_text()
        assert "process 1 was called with another key, n" in msg, msg  # raised everywhere, no hang
        msg = (out / f"foreign_checkpoint_p{pid}.txt").read_text()
        expected = "another run" if pid == 0 else "process 0 could not"  # process 0 re-raises its own error
        assert msg.startswith("checkpoint:") and expected in msg, msg
    with np.load(out / "ck.npz") as f:  # process 0 kept writing it
        assert int(f["chunks_done"]) == -(-N // CHUNK) and int(f["n"]) == N


def test_pack_roundtrip_is_bit_exact():
    rng = np.random.default_rng(0)
    arrays = [
        rng.normal(size=(5, 3)),
        np.array([np.nan, -np.inf, 5e-324]),
        rng.normal(size=7).astype(np.float32),
        np.array([True, False, True]),
        np.arange(3, dtype=np.int8),
        np.zeros((0, 2)),
    ]
    buf = _ensemble._pack(arrays)
    assert buf.dtype == np.uint32
    back = _ensemble._unpack(buf, [(a.shape, a.dtype) for a in arrays])
    for a, b in zip(arrays, back):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()

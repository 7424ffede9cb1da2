"""Monte Carlo ensembles over random initialisations, streamed in memory-bounded chunks.

Member ``i`` of an ensemble always receives ``jax.random.fold_in(key, i)``, whatever the
chunk size or the number of devices, so results do not depend on how the work was cut.
Each chunk is one jitted ``vmap`` whose member axis is sharded across the local devices;
per-member statistics come back to the host and are accumulated in float64 in member
order, which makes a sharded run bit-identical to a single-device one.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

PyTree = Any


@dataclasses.dataclass(frozen=True)
class EnsembleResult:
    """Streaming statistics of an ensemble; each field is a pytree shaped like one member.

    Attributes:
      mean, se: sample mean and its standard error (ddof=1).
      log_mean, log_se: mean of log(x) and its standard error (NaN where x ≤ 0 occurred).
      n: members accumulated.
      nonfinite: per-leaf count of members whose value was NaN or ±inf (flagged; they
        make ``mean`` non-finite rather than silently disappearing).
      samples: the per-member values, only with ``keep_samples=True``.
    """

    mean: PyTree
    se: PyTree
    log_mean: PyTree
    log_se: PyTree
    n: int
    nonfinite: PyTree
    samples: PyTree | None = None


class _Sums:
    """float64 running sums of x, x², log x, (log x)² per leaf."""

    def __init__(self, leaves: list[np.ndarray] | None = None):
        self.n = 0
        self.s = None if leaves is None else leaves

    def add(self, chunk: list[np.ndarray]):
        parts = []
        for x in chunk:
            x = np.asarray(x, dtype=np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                lx = np.log(x)
            parts.append(np.stack([x.sum(0), (x * x).sum(0), lx.sum(0), (lx * lx).sum(0),
                                   (~np.isfinite(x)).sum(0).astype(np.float64)]))
        self.s = parts if self.s is None else [a + b for a, b in zip(self.s, parts)]
        self.n += chunk[0].shape[0]

    def finish(self):
        n = self.n

        def stats(s1, s2):
            m = s1 / n
            var = np.maximum(s2 / n - m * m, 0.0) * n / max(n - 1, 1)
            return m, np.sqrt(var / n)

        out = [stats(s[0], s[1]) + stats(s[2], s[3]) + (s[4].astype(np.int64),) for s in self.s]
        return [list(t) for t in zip(*out)]


def _member_keys(key: jax.Array, start: jax.Array, size: int) -> jax.Array:
    return jax.vmap(lambda i: jax.random.fold_in(key, i))(start + jnp.arange(size))


def _mesh() -> Mesh:
    return Mesh(np.array(jax.local_devices()), ("members",))


def _check_args(fn, n, chunk_size):
    if not callable(fn):
        raise TypeError(f"fn: expected a callable key -> pytree of arrays, got {type(fn).__name__}.")
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 2:
        raise ValueError(f"n: expected an ensemble size of at least 2 (an int), got {n!r}.")
    if chunk_size is not None and chunk_size != "auto" and (
            not isinstance(chunk_size, (int, np.integer)) or isinstance(chunk_size, bool) or chunk_size < 1):
        raise ValueError(f"chunk_size: expected a positive int, 'auto' or None, got {chunk_size!r}.")


def default_memory_budget() -> int:
    """Half the free memory of the first local device; 2 GiB where the backend does not say (CPU)."""
    stats = jax.local_devices()[0].memory_stats() or {}
    if "bytes_limit" in stats:
        return int(0.5 * (stats["bytes_limit"] - stats.get("bytes_in_use", 0)))
    return 2 << 30


def auto_chunk_size(fn, key, n: int, memory_budget: int | None = None) -> int:
    """Largest chunk whose compiled working set fits ``memory_budget`` bytes.

    Compiles the vmapped member function at two probe sizes and reads XLA's memory analysis
    (temporaries + outputs), which is affine in the chunk size: bytes ≈ a + b·chunk.
    """
    budget = default_memory_budget() if memory_budget is None else int(memory_budget)
    if budget <= 0:
        raise ValueError(f"memory_budget: expected a positive number of bytes, got {memory_budget!r}.")
    ndev = jax.local_device_count()

    def cost(c):
        keys = _member_keys(key, jnp.asarray(0, jnp.uint32), c)
        m = jax.jit(jax.vmap(fn)).lower(keys).compile().memory_analysis()
        return None if m is None else m.temp_size_in_bytes + m.output_size_in_bytes + m.argument_size_in_bytes

    c0 = 4 * ndev
    b1, b2 = cost(c0), cost(2 * c0)
    if b1 is None or b2 is None:
        return min(n, 1024)
    per = max((b2 - b1) / c0, 1.0)
    fixed = max(b1 - per * c0, 0.0)
    chunk = int((budget - fixed) // per)
    return int(max(ndev, min(n, chunk)))


def ensemble(
    fn: Callable[[jax.Array], PyTree],
    key: jax.Array,
    n: int,
    *,
    chunk_size: int | None = None,
    progress: bool | None = None,
    keep_samples: bool = False,
    checkpoint: str | os.PathLike | None = None,
    memory_budget: int | None = None,
) -> EnsembleResult:
    """Runs ``fn`` on ``n`` independent keys and returns streaming statistics.

    Args:
      fn: ``fn(key) -> pytree`` of arrays, the statistics of one ensemble member. It is
        traced once and vmapped; it must not depend on Python-side randomness.
      key: a PRNG key; member ``i`` gets ``fold_in(key, i)``.
      n: ensemble size (≥ 2).
      chunk_size: members per vmapped chunk (memory bound). Default: all of ``n`` up to
        1024; ``"auto"``: the largest chunk whose compiled working set fits
        ``memory_budget`` (:func:`auto_chunk_size`). Rounded up to a multiple of the local
        device count.
      progress: show a progress bar (default: when there is more than one chunk and
        stderr is a terminal).
      keep_samples: also return the per-member values (memory grows with ``n``).
      checkpoint: a path; finished chunks' sums are saved there after each chunk, and a
        rerun with the same ``n``, ``chunk_size`` and key resumes after the last one.
      memory_budget: bytes for ``chunk_size="auto"`` (default: half the device's free
        memory; 2 GiB on CPU).

    Returns:
      An :class:`EnsembleResult`.

    Raises:
      TypeError, ValueError: on a non-callable ``fn``, ``n < 2`` or a bad ``chunk_size``.

    Example:
      >>> import jax
      >>> r = ensemble(lambda k: jax.random.normal(k), jax.random.key(0), 1000)
      >>> abs(float(r.mean)) < 4 * float(r.se)
      True
    """
    _check_args(fn, n, chunk_size)
    if not (isinstance(key, jax.Array) and (jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
                                            or (key.dtype == jnp.uint32 and key.shape == (2,)))):
        raise TypeError(f"key: expected a PRNG key (jax.random.key(seed)), got {key!r:.80}.")
    ndev = jax.local_device_count()
    if chunk_size == "auto":
        chunk_size = auto_chunk_size(fn, key, n, memory_budget)
    elif chunk_size is None:
        chunk_size = min(n, 1024)
    chunk_size = -(-chunk_size // ndev) * ndev
    n_chunks = -(-n // chunk_size)
    mesh = _mesh()
    sharding = NamedSharding(mesh, PartitionSpec("members"))

    @jax.jit
    def run_chunk(start):
        keys = _member_keys(key, start, chunk_size)
        keys = jax.lax.with_sharding_constraint(keys, sharding)
        return jax.vmap(fn)(keys)

    treedef = jax.tree_util.tree_structure(jax.eval_shape(fn, key))
    sums, first, kept = _Sums(), 0, []
    tag = _checkpoint_tag(key, n, chunk_size)
    if checkpoint is not None and os.path.exists(checkpoint):
        sums, first = _load_checkpoint(checkpoint, tag)
    if progress is None:
        progress = n_chunks > 1 and sys.stderr.isatty()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, initial=first * chunk_size, unit="member", leave=False)
    for c in range(first, n_chunks):
        start = c * chunk_size
        out = run_chunk(jnp.asarray(start, dtype=jnp.uint32))
        take = min(chunk_size, n - start)
        leaves = [np.asarray(x)[:take] for x in jax.tree_util.tree_leaves(out)]
        sums.add(leaves)
        if keep_samples:
            kept.append(leaves)
        if checkpoint is not None:
            _save_checkpoint(checkpoint, tag, sums, c + 1)
        if bar is not None:
            bar.update(take)
    if bar is not None:
        bar.close()
    mean, se, lmean, lse, nonfinite = sums.finish()
    unflat = lambda xs: jax.tree_util.tree_unflatten(treedef, xs)
    samples = None
    if keep_samples:
        if first > 0:
            raise ValueError("keep_samples: cannot return samples of a run resumed from a checkpoint.")
        samples = unflat([np.concatenate(p) for p in zip(*kept)])
    return EnsembleResult(unflat(mean), unflat(se), unflat(lmean), unflat(lse), sums.n,
                          unflat(nonfinite), samples)


def _checkpoint_tag(key, n, chunk_size) -> str:
    kd = np.asarray(jax.random.key_data(key)).tobytes()
    return hashlib.sha256(kd + json.dumps([n, chunk_size]).encode()).hexdigest()[:16]


def _save_checkpoint(path, tag, sums: _Sums, chunks_done: int):
    tmp = f"{path}.tmp.npz"
    arrays = {f"leaf{i}": s for i, s in enumerate(sums.s)}
    np.savez(tmp, tag=tag, n=sums.n, chunks_done=chunks_done, **arrays)
    os.replace(tmp, path)


def _load_checkpoint(path, tag):
    with np.load(path) as f:
        if str(f["tag"]) != tag:
            raise ValueError(
                f"checkpoint: {os.fspath(path)!r} belongs to another run (key, n or chunk_size differ)."
            )
        leaves = [f[f"leaf{i}"] for i in range(len([k for k in f.files if k.startswith("leaf")]))]
        sums = _Sums(leaves)
        sums.n = int(f["n"])
        return sums, int(f["chunks_done"])

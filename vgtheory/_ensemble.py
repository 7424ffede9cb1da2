"""Monte Carlo ensembles over random initialisations, streamed in memory-bounded chunks.

Member ``i`` of an ensemble always receives ``jax.random.fold_in(key, i)``, whatever the
chunk size or the number of devices, so results do not depend on how the work was cut.
Each chunk is one jitted ``vmap`` whose member axis is sharded across the local devices;
per-member statistics come back to the host, each chunk is reduced to float64 central
moments, log moments and its largest members (:mod:`vgtheory._moments`), and the chunks are
merged in chunk order (Chan, Golub & LeVeque), which makes a sharded run bit-identical to a
single-device one.

Many hosts
----------
Call ``jax.distributed.initialize(...)`` in every process first; then call
:func:`ensemble` with the same ``fn``, ``key``, ``n`` and ``chunk_size`` in every process.
Chunks are dealt out in rounds: with ``P = jax.process_count()`` and ``first`` the first
chunk not yet done (0, or where a checkpoint stopped), process ``p`` computes chunks
``first + r·P + p``, r = 0, 1, ..., on its own local devices (no cross-process
collectives inside ``fn``). Each process reduces its
chunk to its float64 moment record; one all-gather per round (raw bytes, so float64 survives
without ``jax_enable_x64``) gives every process all ``P`` records, which every process
merges in chunk order, exactly as a single process does. Hence every process returns the
same :class:`EnsembleResult`, bit for bit equal to a one-process run with the same key,
``n`` and chunk size (the chunk size is rounded up to a multiple of every process's local
device count, so pick one that is already a multiple to compare with a smaller machine).
Before the first chunk the processes compare a fingerprint of (key, n, chunk_size, output
shapes); a mismatch raises ``ValueError`` in every process instead of hanging.
``chunk_size="auto"`` takes the smallest of the processes' choices.

Checkpoints: only process 0 reads and writes the ``checkpoint`` file (the argument is
ignored elsewhere); on resume it broadcasts the saved sums to all processes. A checkpoint
holds sums in chunk order, so a run may resume with a different number of processes or
devices. Only process 0 shows a progress bar. On CPU the all-gather needs
``jax_cpu_collectives_implementation="gloo"`` (the default of jax 0.10; on a jax whose
default is none, set it with ``jax.config.update`` before ``initialize``). An exception inside
``fn`` on one process leaves the others waiting in the next all-gather (as for any JAX
multi-process program), so let the launcher kill the job on a failed process.

Launch (one command per host, ``N`` hosts, host 0's address reachable by all)::

    import jax
    jax.distributed.initialize(coordinator_address="10.0.0.1:1234",
                               num_processes=N, process_id=i)
    r = vgtheory.ensemble(fn, jax.random.key(0), 10**6, chunk_size=4096)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import sys
from typing import Any, Callable, Literal

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ._moments import FORMAT as _FORMAT
from ._moments import ROWS as _ROWS
from ._moments import TOP as TOP
from ._moments import Sums as _Sums
from ._moments import partial_sums as _partial_sums

PyTree = Any


@dataclasses.dataclass(frozen=True)
class EnsembleResult:
    """Streaming statistics of an ensemble; each field is a pytree shaped like one member.

    Attributes:
      mean, se: sample mean and its standard error (ddof=1), from per-chunk central moments
        merged in chunk order (Chan, Golub & LeVeque), so a large mean does not cancel the spread.
      log_mean, log_se: mean of log(x) and its standard error (NaN where x ≤ 0 occurred).
      n: members accumulated.
      nonfinite: per-leaf count of members whose value was NaN or ±inf (flagged; they
        make ``mean`` non-finite rather than silently disappearing).
      samples: the per-member values, only with ``keep_samples=True``.
      skewness: sample skewness g₁ = m₃/m₂^{3/2} (biased moments; NaN when every member is equal).
      kurtosis: sample kurtosis b₂ = m₄/m₂² (3 for a normal; NaN when every member is equal).
      top: the ``TOP`` = 16 largest |x| per element, largest first, on a trailing axis
        (0-padded when n < 16).
      top_share: share of those largest |x| in Σ|x| (≈ 16/n for a light tail; near 1 when a
        handful of members carry the sum).
    """

    mean: PyTree
    se: PyTree
    log_mean: PyTree
    log_se: PyTree
    n: int
    nonfinite: PyTree
    samples: PyTree | None = None
    skewness: PyTree = None
    kurtosis: PyTree = None
    top: PyTree = None
    top_share: PyTree = None


def _member_keys(key: jax.Array, start: jax.Array, size: int) -> jax.Array:
    return jax.vmap(lambda i: jax.random.fold_in(key, i))(start + jnp.arange(size))


def _mesh() -> Mesh:
    return Mesh(np.array(jax.local_devices()), ("members",))


def _check_args(fn, n, chunk_size):
    if not callable(fn):
        raise TypeError(f"fn: expected a callable key -> pytree of arrays, got {type(fn).__name__}.")
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 2:
        raise ValueError(f"n: expected an ensemble size of at least 2 (an int), got {n!r}.")
    if (
        chunk_size is not None
        and chunk_size != "auto"
        and (not isinstance(chunk_size, (int, np.integer)) or isinstance(chunk_size, bool) or chunk_size < 1)
    ):
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
    chunk_size: int | Literal["auto"] | None = None,
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
        device count (of every process's, with several processes).
      progress: show a progress bar (default: when there is more than one chunk and
        stderr is a terminal); only process 0 ever shows one.
      keep_samples: also return the per-member values (memory grows with ``n``).
      checkpoint: a path; finished chunks' sums are saved there after each chunk, and a
        rerun with the same ``n``, ``chunk_size`` and key resumes after the last one.
        With several processes only process 0's ``checkpoint`` is read and written (see
        "Many hosts" in the module docstring).
      memory_budget: bytes for ``chunk_size="auto"`` (default: half the device's free
        memory; 2 GiB on CPU).

    Returns:
      An :class:`EnsembleResult`.

    Raises:
      TypeError, ValueError: on a non-callable ``fn``, ``n < 2`` or a bad ``chunk_size``;
        with several processes, ValueError in every process when they disagree on the key,
        ``n``, ``chunk_size`` or the output shapes.

    Example:
      >>> import jax
      >>> r = ensemble(lambda k: jax.random.normal(k), jax.random.key(0), 1000)
      >>> abs(float(r.mean)) < 4 * float(r.se)
      True
    """
    _check_args(fn, n, chunk_size)
    if not (
        isinstance(key, jax.Array)
        and (jnp.issubdtype(key.dtype, jax.dtypes.prng_key) or (key.dtype == jnp.uint32 and key.shape == (2,)))
    ):
        raise TypeError(f"key: expected a PRNG key (jax.random.key(seed)), got {key!r:.80}.")
    ndev, nproc, me = jax.local_device_count(), jax.process_count(), jax.process_index()
    request = chunk_size
    if chunk_size == "auto":
        chunk_size = auto_chunk_size(fn, key, n, memory_budget)
    elif chunk_size is None:
        chunk_size = min(n, 1024)
    out_shapes = jax.eval_shape(fn, key)
    treedef = jax.tree_util.tree_structure(out_shapes)
    specs = [(tuple(x.shape), np.dtype(x.dtype)) for x in jax.tree_util.tree_leaves(out_shapes)]
    multiple = ndev
    if nproc > 1:
        chunk_size, multiple = _agree(key, n, request, chunk_size, specs)
    chunk_size = -(-chunk_size // multiple) * multiple
    n_chunks = -(-n // chunk_size)
    mesh = _mesh()
    sharding = NamedSharding(mesh, PartitionSpec("members"))

    @jax.jit
    def run_chunk(start):
        keys = _member_keys(key, start, chunk_size)
        keys = jax.lax.with_sharding_constraint(keys, sharding)
        return jax.vmap(fn)(keys)

    def chunk_leaves(c):
        out = run_chunk(jnp.asarray(c * chunk_size, dtype=jnp.uint32))
        return [np.asarray(x) for x in jax.tree_util.tree_leaves(out)]

    sums, first, kept = _Sums(), 0, []
    tag = _checkpoint_tag(key, n, chunk_size)
    if nproc > 1:
        sums, first = _shared_resume(checkpoint if me == 0 else None, tag, specs)
    elif checkpoint is not None and os.path.exists(checkpoint):
        sums, first = _load_checkpoint(checkpoint, tag)
    if progress is None:
        progress = n_chunks > 1 and sys.stderr.isatty()
    bar = None
    if progress and me == 0:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, initial=first * chunk_size, unit="member", leave=False)
    for r in range(first, n_chunks, nproc):  # a round: chunk r + p on process p
        chunks = range(r, min(r + nproc, n_chunks))
        takes = [min(chunk_size, n - c * chunk_size) for c in chunks]
        if nproc == 1:
            leaves = [x[: takes[0]] for x in chunk_leaves(r)]
            sums.add(leaves)
            if keep_samples:
                kept.append(leaves)
        else:
            mine = chunk_leaves(r + me) if me < len(chunks) else None  # None: idle this round
            my_take = takes[me] if mine is not None else 0
            gathered = _gather_round(mine, my_take, specs, chunk_size, keep_samples)
            for (parts, rows), take in zip(gathered, takes):  # in chunk order, as one process does
                sums.merge(parts, take)
                if keep_samples:
                    kept.append([x[:take] for x in rows])
        if checkpoint is not None and me == 0:
            _save_checkpoint(checkpoint, tag, sums, chunks[-1] + 1)
        if bar is not None:
            bar.update(sum(takes))
    if bar is not None:
        bar.close()
    mean, se, lmean, lse, nonfinite, skew, kurt, top, share = sums.finish()
    unflat = lambda xs: jax.tree_util.tree_unflatten(treedef, xs)
    samples = None
    if keep_samples:
        if first > 0:
            raise ValueError("keep_samples: cannot return samples of a run resumed from a checkpoint.")
        samples = unflat([np.concatenate(p) for p in zip(*kept)])
    return EnsembleResult(
        unflat(mean),
        unflat(se),
        unflat(lmean),
        unflat(lse),
        sums.n,
        unflat(nonfinite),
        samples,
        unflat(skew),
        unflat(kurt),
        unflat(top),
        unflat(share),
    )


# ----------------------------------------------------------------------------- many processes
def _pack(arrays: list[np.ndarray]) -> np.ndarray:
    """The arrays' raw bytes as one uint32 vector: collectives then move float64 bit-exactly,
    with or without ``jax_enable_x64``."""
    raw = b"".join(np.ascontiguousarray(a).tobytes() for a in arrays)
    return np.frombuffer(raw + b"\0" * (-len(raw) % 4), np.uint32)


def _unpack(buf: np.ndarray, specs: list[tuple[tuple[int, ...], Any]]) -> list[np.ndarray]:
    raw, out, off = np.ascontiguousarray(buf).tobytes(), [], 0
    for shape, dtype in specs:
        size = math.prod(shape) * np.dtype(dtype).itemsize
        out.append(np.frombuffer(raw[off : off + size], dtype).reshape(shape).copy())
        off += size
    return out


def _agree(key, n, request, chunk_size, specs) -> tuple[int, int]:
    """Checks that every process runs the same ensemble; returns the common chunk size (the
    smallest proposed, for ``"auto"``) and the multiple it must be of (lcm of device counts)."""
    request = request if request is None or request == "auto" else int(request)
    kd = np.asarray(jax.random.key_data(key)).tobytes()
    ident = hashlib.sha256(kd + repr((str(key.dtype), int(n), request, specs)).encode()).digest()[:16]
    row = np.concatenate(
        [np.frombuffer(ident, np.uint32), np.array([jax.local_device_count(), chunk_size], np.int64).view(np.uint32)]
    )
    rows = np.asarray(multihost_utils.process_allgather(row))
    bad = [p for p in range(rows.shape[0]) if not np.array_equal(rows[p, :4], rows[0, :4])]
    if bad:
        raise ValueError(
            f"ensemble: process {bad[0]} was called with another key, n, chunk_size or fn "
            "output shapes than process 0; every process must run the same ensemble."
        )
    ints = np.ascontiguousarray(rows[:, 4:]).view(np.int64)  # [P, 2]: local devices, chunk size
    return int(ints[:, 1].min()), math.lcm(*(int(d) for d in ints[:, 0]))


def _gather_round(leaves, take, specs, chunk_size, keep_samples):
    """All processes' chunks of one round, in process (= chunk) order: (partial sums, rows).

    ``leaves`` is this process's chunk output (``chunk_size`` rows, the first ``take`` real)
    or None when it has no chunk this round (the last round); only partial sums travel,
    plus the rows with ``keep_samples``.
    """
    sum_specs = [((_ROWS, *shape), np.float64) for shape, _ in specs]
    row_specs = [((chunk_size, *shape), dtype) for shape, dtype in specs] if keep_samples else []
    if leaves is None:
        payload = [np.zeros(shape, dtype) for shape, dtype in sum_specs + row_specs]
    else:
        payload = _partial_sums([x[:take] for x in leaves]) + (leaves if keep_samples else [])
    rows = np.asarray(multihost_utils.process_allgather(_pack(payload)))
    vals = [_unpack(row, sum_specs + row_specs) for row in rows]
    return [(v[: len(specs)], v[len(specs) :]) for v in vals]


def _shared_resume(path, tag, specs) -> tuple[_Sums, int]:
    """Process 0 loads its checkpoint ``path`` (None elsewhere) and broadcasts it to all."""
    shapes = [(_ROWS, *shape) for shape, _ in specs]
    status, sums, first, error = 0, _Sums(), 0, None
    if path is not None and os.path.exists(path):
        try:
            sums, first = _load_checkpoint(path, tag)
            if [tuple(x.shape) for x in sums.leaves] != shapes:
                raise ValueError(f"checkpoint: {os.fspath(path)!r} holds sums of other shapes than fn's outputs.")
            status = 1
        except Exception as e:  # re-raised below, after the others learnt of it
            status, sums, first, error = 2, _Sums(), 0, e
    arrays = sums.leaves if status == 1 else [np.zeros(shape) for shape in shapes]
    buf = _pack([np.array([status, sums.n, first], np.int64), *(np.asarray(a, np.float64) for a in arrays)])
    buf = np.asarray(multihost_utils.broadcast_one_to_all(buf))
    header, *arrays = _unpack(buf, [((3,), np.int64)] + [(shape, np.float64) for shape in shapes])
    if header[0] == 2:
        raise (
            error
            if error is not None
            else ValueError("checkpoint: process 0 could not resume from its checkpoint file (see the error there).")
        )
    if header[0] == 0:
        return _Sums(), 0
    sums = _Sums(arrays)
    sums.n = int(header[1])
    return sums, int(header[2])


def _checkpoint_tag(key, n, chunk_size) -> str:
    kd = np.asarray(jax.random.key_data(key)).tobytes()
    return hashlib.sha256(kd + json.dumps([n, chunk_size, _FORMAT]).encode()).hexdigest()[:16]


def _save_checkpoint(path, tag, sums: _Sums, chunks_done: int):
    tmp = f"{path}.tmp.npz"
    arrays: dict[str, Any] = {f"leaf{i}": s for i, s in enumerate(sums.leaves)}
    np.savez(tmp, tag=tag, format=_FORMAT, n=sums.n, chunks_done=chunks_done, **arrays)
    os.replace(tmp, path)


def _load_checkpoint(path, tag):
    with np.load(path) as f:
        if "format" not in f.files or int(f["format"]) != _FORMAT:
            raise ValueError(
                f"checkpoint: {os.fspath(path)!r} was written by another vgtheory version "
                f"(format {int(f['format']) if 'format' in f.files else 1}, expected {_FORMAT}); "
                "delete it to start the ensemble over."
            )
        if str(f["tag"]) != tag:
            raise ValueError(f"checkpoint: {os.fspath(path)!r} belongs to another run (key, n or chunk_size differ).")
        leaves = [f[f"leaf{i}"] for i in range(len([k for k in f.files if k.startswith("leaf")]))]
        sums = _Sums(leaves)
        sums.n = int(f["n"])
        return sums, int(f["chunks_done"])

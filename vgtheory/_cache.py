"""Compiled-once public functions: a plain (eager) call with the same shapes never retraces.

``@cached`` wraps a public function so that every call runs through one compiled program per
*static signature*:

* arguments are flattened into pytree leaves; array leaves (``jax.Array``, NumPy arrays and
  scalars) and Python floats are **traced** — numbers such as σ, a learning rate or a
  tolerance sweep without recompiling;
* every other leaf is **static**: Python ints, bools and strings by value (shapes, counts,
  method names), hashable objects by value (an :class:`~vgtheory.Activation`, a dtype),
  functions and other identity-hashed objects (a ``step``, a ``loss_fn``, a ``matvec``) by
  *identity* through a weak reference, and bound methods (``model.apply``) by the identity
  of their object and function. Arguments named in ``static`` (e.g. a concrete ``mask``)
  are static whatever their leaves, keyed by value;
* the cache is weak-keyed: when a function used as a static argument is garbage collected,
  the programs compiled for it are dropped with it.

Non-array leaves of the *result* (a ``num_matvecs`` count) are recorded at trace time and
returned as the same Python values on every call. Argument checks that only need shapes,
dtypes and static values run while tracing, so a bad call raises the same ``ValueError`` /
``TypeError`` as before; checks of concrete *values* (a zero start vector, a NaN tolerance)
are given as ``precheck`` and run on every call before the compiled program. Under a
caller's ``jit``/``vmap`` (some argument is a tracer) the function runs as written: the
caller's transformation already compiles it once.

A ``functools.partial`` argument (or a ``jax.tree_util.Partial``) is split like a pytree:
its function static, its bound arguments traced — so ``hessian_eigh(partial(loss, x=batch),
...)`` with a new batch every training step compiles once. What still retraces is a *new*
function object per call (``lambda p: loss(p, batch)`` written inside the loop): define it
once, or bind the data with ``partial``. As under ``jax.jit``, values a function closes over
or reads from globals are constants of its compiled program: data that changes between
calls must come in as arguments (arrays, or the bound arguments of a ``partial``).
"""
from __future__ import annotations

import functools
import inspect
import threading
import weakref
from typing import Any, Callable

import jax
import numpy as np

_Tracer = getattr(jax.core, "Tracer", ())
_DYN = object()  # marks a traced leaf of the result


class _Dyn:
    """A traced argument leaf in a signature: its shape, dtype and weak type."""

    __slots__ = ("aval",)

    def __init__(self, aval):
        self.aval = aval

    def __hash__(self):
        return hash(("_Dyn", self.aval))

    def __eq__(self, other):
        return isinstance(other, _Dyn) and self.aval == other.aval


class _WeakId:
    """Hashes and compares by the identity of ``obj`` without keeping it alive."""

    __slots__ = ("ref", "ident", "strong", "__weakref__")

    def __init__(self, obj):
        self.ident = id(obj)
        try:
            self.ref, self.strong = weakref.ref(obj), None
        except TypeError:  # not weak-referenceable (a builtin): kept alive instead
            self.ref, self.strong = None, obj

    def get(self):
        return self.strong if self.ref is None else self.ref()

    def __hash__(self):
        return self.ident

    def __eq__(self, other):
        return isinstance(other, _WeakId) and self.ident == other.ident and self.get() is other.get()


class _Method:
    """A bound method ``obj.f`` keyed by (identity of obj, f): ``model.apply`` is a new bound
    method object on every attribute access, but the same program."""

    __slots__ = ("obj", "func")

    def __init__(self, m):
        self.obj, self.func = _WeakId(m.__self__), m.__func__

    def get(self):
        obj = self.obj.get()
        return None if obj is None else self.func.__get__(obj)

    def __hash__(self):
        return hash((self.obj, self.func))

    def __eq__(self, other):
        return isinstance(other, _Method) and self.obj == other.obj and self.func is other.func


class _Value:
    """A static argument keyed by value although unhashable (a pytree of NumPy arrays)."""

    __slots__ = ("value", "key")

    def __init__(self, value):
        leaves, tree = jax.tree_util.tree_flatten(value)
        parts = []
        for leaf in leaves:
            if isinstance(leaf, (jax.Array, np.ndarray)) and not isinstance(leaf, _Tracer):
                a = np.asarray(leaf)
                parts.append((a.shape, str(a.dtype), a.tobytes()))
            else:
                parts.append(_static_key(leaf))
        self.value, self.key = value, (tree, tuple(parts))

    def get(self):
        return self.value

    def __hash__(self):
        return hash(self.key)

    def __eq__(self, other):
        return isinstance(other, _Value) and self.key == other.key


def _static_key(x):
    """Hashable key for a static leaf (see the module docstring for the rules)."""
    if inspect.ismethod(x):
        return _Method(x)
    if type(x).__hash__ is object.__hash__:  # functions, lambdas, partials, plain objects
        return _WeakId(x)
    try:
        hash(x)
        return x
    except TypeError:
        return _Value(x)


def _resolve(k):
    return k.get() if isinstance(k, (_WeakId, _Method, _Value)) else k


def _is_dynamic(x) -> bool:
    return isinstance(x, (jax.Array, np.ndarray, np.generic, float, complex)) and not isinstance(x, bool)


def _aval(x):
    if isinstance(x, (float, complex)):
        return type(x)
    return (np.shape(x), str(x.dtype), bool(getattr(x, "weak_type", False)))


def _weak_parts(key):
    for k in key:
        if isinstance(k, _WeakId) and k.ref is not None:
            yield k.get()
        elif isinstance(k, _Method):
            yield k.obj.get()


class _Entry:
    """One static signature: its jitted program and the static leaves of its result."""

    __slots__ = ("jitted", "out_tree", "out_static", "traces")

    def __init__(self):
        self.jitted, self.out_tree, self.out_static, self.traces = None, None, None, 0


class CachedFunction:
    """The callable :func:`cached` returns (``__wrapped__`` is the original function)."""

    def __init__(self, fun: Callable, static: tuple[str, ...], traced: tuple[str, ...],
                 precheck: Callable | None):
        self.__wrapped__ = fun
        functools.update_wrapper(self, fun)
        self._sig = inspect.signature(fun)
        for p in self._sig.parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY):
                raise TypeError(f"cached: {fun.__name__} has a *args/**kwargs/positional-only parameter.")
        self._static, self._traced = frozenset(static), frozenset(traced)
        self._precheck = precheck
        self._traces = 0
        self._entries: dict[Any, _Entry] = {}
        self._lock = threading.Lock()

    # -- introspection (tests, benchmarks) ---------------------------------------------
    def cache_size(self) -> int:
        """Number of static signatures compiled and alive."""
        return len(self._entries)

    def trace_count(self) -> int:
        """Traces of the wrapped function so far (one per compiled signature), ever."""
        return self._traces

    def cache_clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __get__(self, obj, objtype=None):  # behave like a function when set as a class attribute
        return self if obj is None else functools.partial(self, obj)

    # -- the call ------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        try:
            bound = self._sig.bind(*args, **kwargs)
        except TypeError:
            return self.__wrapped__(*args, **kwargs)  # let Python report the bad call
        bound.apply_defaults()
        arguments = bound.arguments
        if self._precheck is not None:
            self._precheck(**arguments)
        dyn, sig = [], []
        for name, value in arguments.items():
            if name in self._static:
                sig.append((name, None, _static_key(value)))
                continue
            if type(value) is functools.partial:  # its arguments traced: a new batch, same program
                value = jax.tree_util.Partial(value.func, *value.args, **value.keywords)
            leaves, tree = jax.tree_util.tree_flatten(value)
            parts = []
            for x in leaves:
                if isinstance(x, _Tracer):
                    return self.__wrapped__(**arguments)  # inside the caller's jit/vmap
                if _is_dynamic(x) or (name in self._traced and isinstance(x, (int, np.integer))):
                    dyn.append(x)
                    parts.append(_Dyn(_aval(x)))
                else:
                    parts.append(_static_key(x))
            sig.append((name, tree, tuple(parts)))
        key = tuple(sig)
        entry = self._entries.get(key)
        if entry is None:
            entry = self._new_entry(key)
        try:
            out = entry.jitted(dyn)
        except BaseException:
            if entry.out_tree is None:  # the trace itself failed (a bad argument): forget it
                self._entries.pop(key, None)
            raise
        it = iter(out)
        leaves_out = [next(it) if s is _DYN else s for s in entry.out_static]
        return jax.tree_util.tree_unflatten(entry.out_tree, leaves_out)

    def _new_entry(self, key) -> _Entry:
        entry = _Entry()
        fun = self.__wrapped__

        def traced(dyn):
            entry.traces += 1
            self._traces += 1
            it = iter(dyn)
            kw = {}
            for name, tree, parts in key:
                if tree is None:
                    kw[name] = _resolve(parts)
                else:
                    leaves = [next(it) if isinstance(p, _Dyn) else _resolve(p) for p in parts]
                    kw[name] = jax.tree_util.tree_unflatten(tree, leaves)
            out = fun(**kw)
            out_leaves, entry.out_tree = jax.tree_util.tree_flatten(out)
            entry.out_static = [_DYN if isinstance(x, (jax.Array, _Tracer)) else x for x in out_leaves]
            return [x for x in out_leaves if isinstance(x, (jax.Array, _Tracer))]

        entry.jitted = jax.jit(traced)
        with self._lock:
            self._entries[key] = entry
        weak = [p for _, tree, parts in key for p in ((parts,) if tree is None else parts)]
        for obj in _weak_parts(weak):
            if obj is not None:
                weakref.finalize(obj, self._entries.pop, key, None)
        return entry


def cached(fun: Callable | None = None, *, static: tuple[str, ...] = (), traced: tuple[str, ...] = (),
           precheck: Callable | None = None):
    """Decorator: compile ``fun`` once per static signature (see the module docstring).

    Args:
      fun: the public function (no ``*args``/``**kwargs``/positional-only parameters).
      static: names of arguments that are static whatever their leaves (keyed by value,
        e.g. a concrete boolean ``mask`` pytree).
      traced: names of arguments whose Python-int leaves are traced too (an int-valued
        number swept without recompiling, e.g. ``n_active``).
      precheck: ``precheck(**arguments)``, run on every call with the concrete arguments
        before the compiled program: the value checks that cannot run on tracers.

    Returns:
      A :class:`CachedFunction` with the same signature and docstring;
      ``.trace_count()`` counts traces, ``.cache_clear()`` empties the cache.

    Example:
      >>> import jax.numpy as jnp
      >>> @cached(static=())
      ... def scale(f, x, c):
      ...     return c * f(x)
      >>> g = jnp.sin
      >>> _ = scale(g, jnp.ones(3), 2.0); _ = scale(g, jnp.zeros(3), 3.0)
      >>> scale.trace_count()   # c is traced, g static by identity: one trace
      1
    """
    if fun is None:
        return lambda f: CachedFunction(f, tuple(static), tuple(traced), precheck)
    return CachedFunction(fun, tuple(static), tuple(traced), precheck)


def value_checks(*, nonzero: dict | None = None, scalars: dict | None = None) -> Callable:
    """A ``precheck`` for :func:`cached`: the concrete-value checks of common arguments.

    Args:
      nonzero: name → what it is (``{"v0": "start vector"}``), for arrays that get
        normalised: when given and concrete they must be finite and nonzero
        (:func:`~vgtheory._checks.check_nonzero`).
        Anything that is not a real floating array is left to the trace-time checks.
      scalars: name → keyword arguments of :func:`~vgtheory._checks.check_scalar` (e.g.
        ``{"tol": {"nonneg": True}}``); ``None`` values are skipped.
    """
    from ._checks import check_nonzero, check_scalar

    nonzero, scalars = dict(nonzero or {}), dict(scalars or {})

    def precheck(**arguments):
        for name, what in nonzero.items():
            x = arguments.get(name)
            if (isinstance(x, (jax.Array, np.ndarray)) and np.ndim(x) >= 1
                    and np.issubdtype(x.dtype, np.floating)):
                check_nonzero(name, x, what=what)
        for name, kw in scalars.items():
            if arguments.get(name) is not None:
                check_scalar(name, arguments[name], **kw)

    return precheck

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

Functions that carry data are split like pytrees, so a training loop compiles once:

* a ``functools.partial`` (or ``jax.tree_util.Partial``): function static, bound arguments
  traced — ``hessian_eigh(partial(loss, x=batch), ...)``;
* a plain function whose closure holds JAX arrays: code static, closed-over values traced —
  ``hessian_eigh(lambda p: loss(p, xb, yb), ...)`` written anew in every step is one
  program fed each step's ``xb, yb`` (never a stale batch). The same holds for arrays it
  reads from its module's globals (a notebook loop); every other global it reads is part of
  the key. A function that needs those arrays concrete (``float(a)``, ``np.asarray(a)``)
  fails its first trace and is then run as written, keyed by identity.

What still retraces is a new function object that reads no array. What can go stale, as
under ``jax.jit``: the state of an object a function reads and that is mutated in place
(``model.scale = 2.0``) — pass such data as arguments.
"""

from __future__ import annotations

import functools
import inspect
import threading
import types
import weakref
from typing import Any, Callable, Generic, ParamSpec, TypeVar, overload

import jax
import numpy as np

import jax.core

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

    def __init__(self, value, by_identity: bool = False):
        if by_identity:  # kept alive while cached; compared by identity
            self.value, self.key = value, ("id", id(value))
            return
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
        leaves = jax.tree_util.tree_leaves(x)
        if len(leaves) == 1 and leaves[0] is x:  # an unhashable object that is no pytree (a set)
            return _Value(x, by_identity=True)
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


class _Shell:
    """A function's code, globals, defaults and the global names it reads: the static part of
    a lifted function."""

    __slots__ = ("code", "globals", "name", "defaults", "kwdefaults", "names", "ncells")

    def __init__(self, fn, names):
        self.code, self.globals, self.name = fn.__code__, fn.__globals__, fn.__name__
        self.defaults = fn.__defaults__
        self.kwdefaults = tuple(sorted((fn.__kwdefaults__ or {}).items()))
        self.names, self.ncells = names, len(fn.__closure__ or ())

    def build(self, children):
        cells, values = children[: self.ncells], children[self.ncells :]
        g = self.globals
        if self.names:  # the global arrays it reads, traced: a private copy of the namespace
            g = dict(g)
            g.update(zip(self.names, values))
        fn = types.FunctionType(
            self.code, g, self.name, self.defaults, tuple(types.CellType(c) for c in cells) if self.ncells else None
        )
        fn.__kwdefaults__ = dict(self.kwdefaults) or None
        return fn

    def __hash__(self):
        return hash((self.code, id(self.globals), self.defaults, self.kwdefaults, self.names))

    def __eq__(self, other):
        return (
            isinstance(other, _Shell)
            and self.code == other.code
            and self.globals is other.globals
            and self.defaults == other.defaults
            and self.kwdefaults == other.kwdefaults
            and self.names == other.names
        )


class _Lifted:
    """A plain function that reads JAX arrays from its closure or its module's globals, as a
    pytree: those values are the children (arrays traced, everything else keyed by value or
    identity), the code the static part. ``lambda p: loss(p, xb)`` written anew in every step
    of a loop is then one program, fed each step's ``xb`` — never a stale one."""

    __slots__ = ("fn", "names")

    def __init__(self, fn, names=()):
        self.fn, self.names = fn, names


def _flatten_lifted(l):
    cells = tuple(c.cell_contents for c in (l.fn.__closure__ or ()))
    return cells + tuple(l.fn.__globals__[n] for n in l.names), _Shell(l.fn, l.names)


jax.tree_util.register_pytree_node(_Lifted, _flatten_lifted, lambda sh, ch: _Lifted(sh.build(ch)))


def _global_names(code, acc=None) -> set:
    """Names a code object (and the functions and comprehensions defined in it) may read as globals."""
    acc = set() if acc is None else acc
    acc.update(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            _global_names(c, acc)
    return acc


def _lift(fn):
    """``_Lifted(fn)`` when ``fn`` is a plain function reading a concrete JAX array from its
    closure or globals (with hashable defaults), else None."""
    if type(fn) is not types.FunctionType:
        return None
    try:
        cells = [c.cell_contents for c in (fn.__closure__ or ())]
        hash((fn.__defaults__, tuple(sorted((fn.__kwdefaults__ or {}).items()))))
    except (ValueError, TypeError):  # an empty cell, unhashable defaults
        return None
    g = fn.__globals__
    # every global it may read (modules aside) is part of the key: arrays traced, the rest
    # by value or identity, so a rebound global never gives a stale program
    names = tuple(sorted(n for n in _global_names(fn.__code__) if n in g and not isinstance(g[n], types.ModuleType)))
    leaves = jax.tree_util.tree_leaves(cells + [g[n] for n in names])
    if not any(isinstance(x, jax.Array) for x in leaves) or any(isinstance(x, _Tracer) for x in leaves):
        return None
    return _Lifted(fn, names)


class _Entry:
    """One static signature: its jitted program and the static leaves of its result."""

    __slots__ = ("jitted", "out_tree", "out_static", "traces")

    def __init__(self):
        self.jitted: Callable | None = None  # set by _new_entry before the entry is used
        self.out_tree: Any = None  # set by the first trace
        self.out_static: list | None = None  # set by the first trace
        self.traces = 0


_P = ParamSpec("_P")
_R = TypeVar("_R")


class CachedFunction(Generic[_P, _R]):
    """The callable :func:`cached` returns (``__wrapped__`` is the original function)."""

    def __init__(
        self, fun: Callable[_P, _R], static: tuple[str, ...], traced: tuple[str, ...], precheck: Callable | None
    ):
        self.__wrapped__: Callable[..., _R] = fun
        functools.update_wrapper(self, fun)
        self._sig = inspect.signature(fun)
        for p in self._sig.parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY):
                raise TypeError(f"cached: {fun.__name__} has a *args/**kwargs/positional-only parameter.")
        self._static, self._traced = frozenset(static), frozenset(traced)
        self._precheck = precheck
        self._traces = 0
        self._nolift: set = set()  # code objects whose closures must stay concrete
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
    def __call__(self, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            bound = self._sig.bind(*args, **kwargs)
        except TypeError:
            return self.__wrapped__(*args, **kwargs)  # let Python report the bad call
        bound.apply_defaults()
        arguments = bound.arguments
        if self._precheck is not None:
            self._precheck(**arguments)
        return self._call(arguments, lift=True)

    def _call(self, arguments, lift: bool):
        dyn, sig, lifted = [], [], []
        for name, value in arguments.items():
            if name in self._static:
                sig.append((name, None, _static_key(value)))
                continue
            if type(value) is functools.partial:  # its arguments traced: a new batch, same program
                value = jax.tree_util.Partial(value.func, *value.args, **value.keywords)
            elif lift and type(value) is types.FunctionType and value.__code__ not in self._nolift:
                lifted_value = _lift(value)
                if lifted_value is not None:
                    lifted.append(value.__code__)
                    value = lifted_value
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
        assert entry.jitted is not None  # _new_entry sets it
        try:
            out = entry.jitted(dyn)
        except BaseException as e:
            if entry.out_tree is None:  # the trace itself failed (a bad argument): forget it
                self._entries.pop(key, None)
            if lifted and entry.out_tree is None and isinstance(e, Exception):
                # the trace with traced closure/global arrays failed: perhaps the function needs
                # them concrete (float(a), np.asarray(a)), and checks may have re-worded that
                # error. Run it as written (keyed by identity); if that works, keep it so.
                out = self._call(arguments, lift=False)
                self._nolift.update(lifted)
                return out
            raise
        assert entry.out_static is not None  # set by the trace that just ran
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
                    value = jax.tree_util.tree_unflatten(tree, leaves)
                    kw[name] = value.fn if isinstance(value, _Lifted) else value
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


@overload
def cached(
    fun: Callable[_P, _R],
    *,
    static: tuple[str, ...] = (),
    traced: tuple[str, ...] = (),
    precheck: Callable | None = None,
) -> CachedFunction[_P, _R]: ...
@overload
def cached(
    fun: None = None, *, static: tuple[str, ...] = (), traced: tuple[str, ...] = (), precheck: Callable | None = None
) -> Callable[[Callable[_P, _R]], CachedFunction[_P, _R]]: ...
def cached(
    fun: Callable | None = None,
    *,
    static: tuple[str, ...] = (),
    traced: tuple[str, ...] = (),
    precheck: Callable | None = None,
):
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

        def decorate(f: Callable[_P, _R], /) -> CachedFunction[_P, _R]:
            return CachedFunction(f, tuple(static), tuple(traced), precheck)

        return decorate
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
            if isinstance(x, (jax.Array, np.ndarray)) and np.ndim(x) >= 1 and np.issubdtype(x.dtype, np.floating):
                check_nonzero(name, x, what=what)
        for name, kw in scalars.items():
            if arguments.get(name) is not None:
                check_scalar(name, arguments[name], **kw)

    return precheck

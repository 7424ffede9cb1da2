"""A user's claims: from a claim file, an importable module or an installed package.

``vgtheory verify --claims PATH_OR_MODULE`` calls :func:`load_claims`; installed packages
declare claim modules in the entry-point group ``vgtheory.claims``, which ``vgtheory verify``
and ``vgtheory list`` load (:func:`entry_point_claims`) unless ``--no-entry-points``::

    # a package's pyproject.toml
    [project.entry-points."vgtheory.claims"]
    mylab = "mylab.claims"             # importing the module registers its @vg.claim functions
    other = "mylab.more:register_all"  # or a function, called with no arguments, that does

A failed load leaves the registry as it was (the claims it registered are removed).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import re
import sys
import traceback
import types
import zlib

from ._checks import ArgumentTypeError
from ._claims import REGISTRY, Claim, register

GROUP = "vgtheory.claims"
_LOADED: dict[tuple, tuple[Claim, ...]] = {}  # entry points load once per process
_MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class ClaimsNotFoundError(FileNotFoundError, ValueError):
    """No claim file at that path and no importable module of that name."""


class NoClaimsError(ValueError):
    """The file or module imported, but registers no claim."""


def _module_claims(before: set, module: str) -> tuple[Claim, ...]:
    """Claims registered since ``before`` was taken, or defined in ``module`` (already imported)."""
    return tuple(c for cid, c in REGISTRY.items() if cid not in before or getattr(c.run, "__module__", None) == module)


def _rollback(before: set) -> None:
    for cid in [cid for cid in REGISTRY if cid not in before]:
        del REGISTRY[cid]


def _file_module(path: str) -> str:
    """Imports the claim file ``path`` as a uniquely named module; returns the module's name."""
    path = os.path.abspath(path)
    stem = re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0])
    name = f"vgtheory_user_claims_{stem}_{zlib.crc32(path.encode()) & 0xFFFFFFFF:08x}"
    if getattr(sys.modules.get(name), "__file__", None) == path:
        return name  # loaded already (the same file given twice)
    folder = os.path.dirname(path)
    if folder not in sys.path:  # as `python FILE` does: the file may import its neighbours
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ValueError(f"source: cannot load {path!r} as a Python module.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before running it: dataclasses, pickling and origins look it up
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return name


def load_claims(source: str | os.PathLike) -> tuple[Claim, ...]:
    """Imports a claim file or module and returns the claims it registers (``@vg.claim``).

    Args:
      source: a path to a ``.py`` file, or the dotted name of an importable module. A file
        runs as a module of its own (its folder goes on ``sys.path``, as ``python FILE`` does);
        a module already imported is not re-run (its registered claims are returned).

    Returns:
      The claims, in registration order (at least one).

    Raises:
      ClaimsNotFoundError: (a ``FileNotFoundError`` and ``ValueError``) no such file, and no
        importable module of that name.
      DuplicateClaimError: (a ``ValueError``) a claim id registered elsewhere, naming both.
      NoClaimsError: (a ``ValueError``) the file or module registers no claim.
      Exception: whatever the file raises while it is imported, with its traceback.

    Example:
      >>> import vgtheory as vg
      >>> claims = vg.load_claims("my_claims.py")  # doctest: +SKIP
      >>> results = [vg.run_claim(c, vg.claim_key(0, c.id), False) for c in claims]  # doctest: +SKIP
    """
    if not isinstance(source, (str, os.PathLike)) or not os.fspath(source):
        raise ArgumentTypeError(f"source: expected a path to a .py claim file or a module name, got {source!r:.80}.")
    text = os.fspath(source)
    before = set(REGISTRY)
    looks_like_file = text.endswith(".py") or os.sep in text or "/" in text or not _MODULE_NAME.match(text)
    try:
        if os.path.isfile(text):
            module = _file_module(text)
        elif looks_like_file:
            raise ClaimsNotFoundError(f"source: no claim file {text!r} (looked in {os.getcwd()}).")
        else:
            try:
                module = importlib.import_module(text).__name__
            except ModuleNotFoundError as e:  # only when the module itself is missing, not a dependency of it
                if e.name and (text == e.name or text.startswith(e.name + ".")):
                    raise ClaimsNotFoundError(
                        f"source: {text!r} is neither a claim file nor an importable module ({e})."
                    ) from None
                raise
    except BaseException:
        _rollback(before)
        raise
    found = _module_claims(before, module)
    if not found:
        raise NoClaimsError(
            f"source: {text!r} registers no claims; decorate each run(key, full) function with "
            f"@vg.claim(id=..., title=..., statement=..., source=...)."
        )
    return found


def entry_point_claims(group: str = GROUP) -> dict[str, tuple[Claim, ...]]:
    """Loads the claim modules that installed packages declare in the entry-point ``group``.

    Each entry point loads once per process; a second call registers the same claims again
    (a no-op unless the registry was changed meanwhile).

    Returns:
      ``{"name = value (distribution)": claims}`` per entry point.

    Raises:
      ImportError: naming the entry point and its distribution, chained to what it raised
        (import failure, duplicate id, no claims, or a value that is neither a module nor a
        function nor a :class:`Claim`).
    """
    out = {}
    for ep in importlib.metadata.entry_points(group=group):
        dist = getattr(getattr(ep, "dist", None), "name", None) or "?"
        label = f"{ep.name} = {ep.value} ({dist})"
        if (group, label) in _LOADED:
            out[label] = tuple(register(c) for c in _LOADED[(group, label)])
            continue
        before = set(REGISTRY)
        try:
            obj = ep.load()
            if isinstance(obj, Claim):
                register(obj)
            elif callable(obj) and not isinstance(obj, types.ModuleType):
                obj()
            elif not isinstance(obj, types.ModuleType):
                raise TypeError(f"expected a module, a function or a vgtheory.Claim, got {type(obj).__name__}")
            found = _module_claims(before, ep.module)
            if not found:
                raise ValueError("registers no claims")
        except Exception as e:
            _rollback(before)
            raise ImportError(f"entry point {label} in group {group!r}: {type(e).__name__}: {e}") from e
        out[label] = _LOADED[(group, label)] = found
    return out


def brief_traceback(e: BaseException, limit: int = 8) -> str:
    """The traceback of ``e`` without the import machinery's and the loader's own frames."""
    te = traceback.TracebackException.from_exception(e)
    here = os.path.dirname(os.path.abspath(__file__))
    skip = {os.path.join(here, f) for f in ("_user_claims.py", "_cli.py")}
    frames = [
        f
        for f in te.stack
        if not f.filename.startswith("<frozen") and f.filename not in skip and "importlib" not in f.filename
    ]
    te.stack = traceback.StackSummary.from_list(frames[-limit:])
    return "".join(te.format(chain=False)).rstrip()

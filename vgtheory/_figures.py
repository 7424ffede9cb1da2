"""Discovers and runs the paper figures (``vgtheory figures``).

The figure scripts live in the repository's top-level ``paper_figures/`` folder, one
``fig_<name>.py`` per figure, each with ``NAME``, ``TITLE``, ``CLAIMS`` (the claim ids it
illustrates), ``SEED`` and ``main(out_dir, smoke=False) -> list[str]``. They are imported by
file path (the folder is not a package and is not shipped in the wheel); set
``VGTHEORY_FIGURES_DIR`` to point at a checkout's ``paper_figures/`` from elsewhere.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import os
import sys
import time
import traceback
from types import ModuleType

ENV = "VGTHEORY_FIGURES_DIR"


def figures_dir() -> str:
    """The ``paper_figures/`` folder: ``$VGTHEORY_FIGURES_DIR`` or ``<repository>/paper_figures``."""
    d = os.environ.get(ENV) or os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "paper_figures"
    )
    return os.path.abspath(d)


def discover() -> dict[str, ModuleType]:
    """Imports every ``fig_*.py`` of :func:`figures_dir`; returns ``{NAME: module}`` sorted by file.

    Raises:
      FileNotFoundError: the folder is absent (e.g. vgtheory installed from a wheel).
    """
    d = figures_dir()
    if not os.path.isdir(d):
        raise FileNotFoundError(
            f"paper_figures/ not found at {d!r}: the figure scripts ship with the source repository, not "
            f"with the installed package. Run from a checkout (git clone … && pip install -e .) or set "
            f"{ENV} to the checkout's paper_figures/ folder."
        )
    if d not in sys.path:  # the scripts import their shared `_common` module by name
        sys.path.insert(0, d)
    mods = {}
    for fn in sorted(os.listdir(d)):
        if not (fn.startswith("fig_") and fn.endswith(".py")):
            continue
        modname = "vgtheory_paper_figures." + fn[:-3]
        mod = sys.modules.get(modname)
        if mod is None:
            spec = importlib.util.spec_from_file_location(modname, os.path.join(d, fn))
            if spec is None or spec.loader is None:
                raise ImportError(f"paper figures: cannot load {os.path.join(d, fn)!r} as a Python module.")
            mod = importlib.util.module_from_spec(spec)
            sys.modules[modname] = mod
            spec.loader.exec_module(mod)
        mods[getattr(mod, "NAME", fn[4:-3])] = mod
    return mods


def figure_claims() -> dict[str, tuple[str, ...]]:
    """``{figure NAME: claim ids}``, or ``{}`` when the scripts are not available."""
    try:
        return {name: tuple(getattr(m, "CLAIMS", ())) for name, m in discover().items()}
    except FileNotFoundError:
        return {}


def run_figures(out: str = "figures_out", smoke: bool = False, only: list[str] | None = None, log=None) -> int:
    """Runs the figure scripts into ``out``; returns 0 if all succeeded, 1 otherwise, 2 if none.

    Args:
      out: output folder (created).
      smoke: tiny sizes (seconds per figure), as the tests run them.
      only: figure names or glob patterns (default: all).
      log: text stream for progress (default stderr).
    """
    log = log or sys.stderr
    try:
        mods = discover()
    except FileNotFoundError as e:
        print(f"vgtheory figures: {e}", file=log)
        return 2
    chosen = {k: m for k, m in mods.items() if not only or any(fnmatch.fnmatch(k, p) for p in only)}
    if not chosen:
        print(f"--only: no figure matches {only!r}; available: {', '.join(mods)}", file=log)
        return 2
    os.makedirs(out, exist_ok=True)
    failed, t0 = [], time.perf_counter()
    for i, (name, mod) in enumerate(chosen.items()):
        print(f"[{i + 1}/{len(chosen)}] {name}: {getattr(mod, 'TITLE', '')} ...", end="", file=log, flush=True)
        t = time.perf_counter()
        try:
            paths = mod.main(out, smoke=smoke)
            print(
                f" {time.perf_counter() - t:.1f}s -> {', '.join(os.path.basename(p) for p in paths)}",
                file=log,
                flush=True,
            )
        except Exception:  # one broken figure must not hide the others
            failed.append(name)
            print(" FAILED", file=log)
            traceback.print_exc(file=log)
    print(
        f"{len(chosen) - len(failed)}/{len(chosen)} figures written to {os.path.abspath(out)} in "
        f"{time.perf_counter() - t0:.1f}s" + (f"; failed: {', '.join(failed)}" if failed else ""),
        file=log,
    )
    return 1 if failed else 0

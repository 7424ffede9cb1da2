"""Regenerates the README gallery: small PNGs of a few figures at full settings in docs/gallery/.

``python paper_figures/make_gallery.py [--out docs/gallery]``. Each PNG is rendered at a low
resolution so that it stays under 150 KB; the figures are the same as ``vgtheory figures``
produces (same seeds, full settings).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as C  # noqa: E402

GALLERY = ("gradient_depth", "phase_diagram", "lyapunov", "residual")
DPI = 85
MAX_BYTES = 150_000


def main(out: str, only=None) -> list[str]:
    import importlib

    C.plt.rcParams["savefig.dpi"] = DPI
    os.makedirs(out, exist_ok=True)
    paths = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in only or GALLERY:
            mod = importlib.import_module("fig_" + name)
            png = [p for p in mod.main(tmp, smoke=False) if p.endswith(".png")][0]
            dst = os.path.join(out, name + ".png")
            shutil.copyfile(png, dst)
            size = os.path.getsize(dst)
            assert size <= MAX_BYTES, f"{dst}: {size} bytes > {MAX_BYTES}"
            print(f"{dst}: {size // 1024} KB")
            paths.append(dst)
    return paths


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument(
        "--out", default=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "gallery")
    )
    p.add_argument("--only", nargs="+", choices=GALLERY)
    a = p.parse_args()
    main(a.out, a.only)

"""Mergeable per-chunk statistics of an ensemble: central moments, log moments, tail values.

Each chunk of members is reduced, per output element and in float64, to a fixed-size record
(layout :data:`FORMAT`): the mean and the central sums M2, M3, M4; the same for log x up to M2;
Σ|x|; the non-finite count; and the ``TOP`` largest |x|. Records of consecutive chunks are
merged in chunk order with the pairwise update of Chan, Golub & LeVeque (1979), extended to
M3 and M4 by Pébay (2008). Unlike running sums of x and x², the pooled variance does not
cancel catastrophically when the mean is large against the spread (1e9 + N(0, 1)), and a
fixed merge order keeps sharded and many-host runs bit-identical to one device.

References:
  T. F. Chan, G. H. Golub, R. J. LeVeque, "Updating formulae and a pairwise algorithm for
  computing sample variances", Stanford CS report STAN-CS-79-773 (1979).
  P. Pébay, "Formulas for robust, one-pass parallel computation of covariances and
  arbitrary-order statistical moments", Sandia report SAND2008-6212 (2008).
"""

from __future__ import annotations

import numpy as np

TOP = 16  # largest |x| members kept per element (tail diagnostics)
FORMAT = 2  # checkpoint layout: per leaf [mean, M2, M3, M4, log mean, log M2, Σ|x|, non-finite, top_1..top_TOP]
ROWS = 8 + TOP


def partial_sums(chunk: list[np.ndarray]) -> list[np.ndarray]:
    """Per leaf, one chunk's float64 statistics over the member axis (layout of ``FORMAT``).

    Central moments by two passes (mean refined once), the log moments likewise, Σ|x|, the
    non-finite count and the ``TOP`` largest |x| (−inf-padded; NaN members never enter).
    """
    parts = []
    for x in chunk:
        x = np.asarray(x, dtype=np.float64)
        c = x.shape[0]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            lx = np.log(x)
            rows = [*central(x), *central(lx, order=2), np.abs(x).sum(0), (~np.isfinite(x)).sum(0).astype(np.float64)]
        a = np.where(np.isnan(x), -np.inf, np.abs(x))
        if c < TOP:
            a = np.concatenate([a, np.full((TOP - c, *x.shape[1:]), -np.inf)])
        top = -np.sort(-a, axis=0)[:TOP]
        parts.append(np.concatenate([np.stack(rows), top]))
    return parts


def central(x: np.ndarray, order: int = 4) -> list[np.ndarray | np.floating]:
    """[mean, M2, (M3, M4)] over axis 0, M_p = Σ (x − mean)^p, by two passes (NumPy scalars
    for a 1-D ``x``)."""
    m = x.mean(0)
    m = m + (x - m).mean(0)  # one refinement: the first pass's rounding error is removed
    d = x - m
    d2 = d * d
    out = [m, d2.sum(0)]
    if order == 4:
        out += [(d2 * d).sum(0), (d2 * d2).sum(0)]
    return out


def merge(a: np.ndarray, na: int, b: np.ndarray, nb: int) -> np.ndarray:
    """Pooled statistics of two disjoint groups (Chan, Golub & LeVeque 1979; Pébay 2008 for M3, M4).

    δ = mean_b − mean_a, n = na + nb: mean = mean_a + δ nb/n, M2 = M2a + M2b + δ² na nb/n,
    M3 = M3a + M3b + δ³ na nb (na − nb)/n² + 3δ (na M2b − nb M2a)/n,
    M4 = M4a + M4b + δ⁴ na nb (na² − na nb + nb²)/n³ + 6δ² (na² M2b + nb² M2a)/n² + 4δ (na M3b − nb M3a)/n.
    Deterministic for a fixed order of merges (chunk order), hence bit-identical across devices.
    """
    n = na + nb
    out = np.empty_like(a)
    with np.errstate(invalid="ignore", over="ignore"):
        d = b[0] - a[0]
        out[0] = a[0] + d * (nb / n)
        out[1] = a[1] + b[1] + d * d * (na * nb / n)
        out[2] = a[2] + b[2] + d**3 * (na * nb * (na - nb) / n**2) + 3.0 * d * (na * b[1] - nb * a[1]) / n
        out[3] = (
            a[3]
            + b[3]
            + d**4 * (na * nb * (na * na - na * nb + nb * nb) / n**3)
            + 6.0 * d * d * (na * na * b[1] + nb * nb * a[1]) / n**2
            + 4.0 * d * (na * b[2] - nb * a[2]) / n
        )
        dl = b[4] - a[4]
        out[4] = a[4] + dl * (nb / n)
        out[5] = a[5] + b[5] + dl * dl * (na * nb / n)
    out[6:8] = a[6:8] + b[6:8]
    out[8:] = -np.sort(-np.concatenate([a[8:], b[8:]]), axis=0)[:TOP]
    return out


class Sums:
    """float64 per-leaf statistics (layout of ``FORMAT``), merged chunk by chunk in chunk order."""

    def __init__(self, leaves: list[np.ndarray] | None = None):
        self.n = 0
        self.s = None if leaves is None else leaves

    @property
    def leaves(self) -> list[np.ndarray]:
        """The per-leaf sums, once a chunk was merged (or a checkpoint loaded)."""
        assert self.s is not None, "Sums: no chunk merged yet"
        return self.s

    def add(self, chunk: list[np.ndarray]):
        self.merge(partial_sums(chunk), chunk[0].shape[0])

    def merge(self, parts: list[np.ndarray], rows: int):
        if self.s is None:
            self.s = parts
        else:
            self.s = [merge(a, self.n, b, rows) for a, b in zip(self.s, parts)]
        self.n += rows

    def finish(self):
        """Per leaf: mean, se, log_mean, log_se, nonfinite, skewness, kurtosis, top, top_share."""
        n = self.n
        out = []
        with np.errstate(divide="ignore", invalid="ignore"):
            for s in self.leaves:
                se = np.sqrt(s[1] / max(n - 1, 1) / n)
                lse = np.sqrt(s[5] / max(n - 1, 1) / n)
                m2 = s[1] / n
                flat = m2 <= 0  # every member equal: higher moments undefined
                skew = np.where(flat, np.nan, (s[2] / n) / np.where(flat, 1.0, m2) ** 1.5)
                kurt = np.where(flat, np.nan, (s[3] / n) / np.where(flat, 1.0, m2) ** 2)
                top = np.where(np.isneginf(s[8:]), 0.0, s[8:])  # fewer members than TOP: 0-padded
                share = top.sum(0) / s[6]
                out.append((s[0], se, s[4], lse, s[7].astype(np.int64), skew, kurt, np.moveaxis(top, 0, -1), share))
        return [list(t) for t in zip(*out)]

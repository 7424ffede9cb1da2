"""The claim registry: each claim is a prediction, a simulation and a tolerance rule.

A claim's ``run(key, full)`` returns :class:`Comparison` rows. Each row compares a
prediction with an estimate (± standard error) under the rule

    tolerance = k · SE + bias + rtol · |prediction|,

where k is the Bonferroni-corrected z threshold for all rows of the run, ``bias`` is a
stated finite-size allowance and ``rtol`` the numerical tolerance of an exact quantity.
Every row also carries a *planted* wrong prediction that the same rule must reject: a
check that cannot tell the truth from the planted error has no power and is reported as
inconclusive, never as confirmed.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
import traceback
import zlib
from typing import TYPE_CHECKING, Any, Callable, Literal, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ._checks import ArgumentTypeError, check_callable, check_int, check_scalar
from ._stats import bonferroni_k, to_float

Kind = Literal["equal", "upper", "lower"]
# A number as Comparison takes it: a Python float or int, a NumPy or JAX scalar / 0-d array.
# __post_init__ stores every such field as a Python float.
Scalar = float | np.number | np.ndarray | jax.Array
if TYPE_CHECKING:  # Comparison's numeric fields: stored as float (what type checkers see) ...
    StoredFloat = float
    StoredInt = int
else:  # ... and accepted as any real scalar by the generated __init__ (what runtime checkers see)
    StoredFloat = Scalar
    StoredInt = int | np.integer
MAX_CLT_SHIFT = 1.0  # largest Cornish–Fisher threshold shift (in SE) a row may need (Comparison.reason)
MIN_SE_DOF = 20.0  # fewest effective degrees of freedom of a Monte Carlo SE (Comparison.se_dof)
Verdict = Literal["confirmed", "refuted", "inconclusive"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Comparison:
    """One prediction against one estimate.

    Attributes:
      label: what is compared, e.g. ``"L=10, σ²=0.8: log E‖g₀‖²"``.
      prediction: the theory value (or bound).
      estimate: the simulated value.
      se: its standard error (0 for an exact, deterministic quantity).
      n: number of independent samples behind ``estimate`` (1 when exact).
      planted: a wrong prediction (or bound) that the check must reject.
      bias: stated finite-size/finite-width allowance, absolute, same units.
      rtol: numerical tolerance relative to ``|prediction|`` (exact quantities).
      kind: ``"equal"`` (two-sided), ``"upper"`` (claim: estimate ≤ prediction) or
        ``"lower"`` (claim: estimate ≥ prediction).
      note: free text shown in reports (e.g. the bias's origin).
      skewness: sample skewness γ̂ of the members behind a Monte Carlo mean (0: none
        stated). The threshold k is widened on the side the skewed mean's studentized error
        leans to by the one-term Cornish–Fisher correction |γ̂|(2k² + 1)/(6√n) standard errors
        (:meth:`clt_shift`), and where that correction exceeds ``MAX_CLT_SHIFT`` = 1 SE the
        row is inconclusive (:meth:`reason`). Set by :meth:`from_ensemble`.
      caveat: a reason the normal approximation cannot be used at all (non-finite members,
        zero spread over a Monte Carlo ensemble); a row with a caveat is inconclusive.
      kurtosis: sample kurtosis κ̂ = m₄/m₂² of those members (0: none stated). The SE rests on
        ν = 2n/(κ̂ − (n−3)/(n−1)) effective degrees of freedom (Satterthwaite: Var(s²)/σ⁴ =
        2/ν); below ``MIN_SE_DOF`` = 20 (the SE uncertain by more than ±16 % at one sigma) the
        row is inconclusive (:meth:`reason`). Set by :meth:`from_ensemble`.
    """

    label: str
    prediction: StoredFloat
    estimate: StoredFloat
    se: StoredFloat
    n: StoredInt
    planted: StoredFloat
    bias: StoredFloat = 0.0
    rtol: StoredFloat = 0.0
    kind: Kind = "equal"
    note: str = ""
    skewness: StoredFloat = 0.0
    caveat: str = ""
    kurtosis: StoredFloat = 0.0

    if TYPE_CHECKING:  # the generated __init__ as type checkers should see it: any real scalar, stored as float

        def __init__(
            self,
            *,
            label: str,
            prediction: Scalar,
            estimate: Scalar,
            se: Scalar,
            n: int | np.integer,
            planted: Scalar,
            bias: Scalar = 0.0,
            rtol: Scalar = 0.0,
            kind: Kind = "equal",
            note: str = "",
            skewness: Scalar = 0.0,
            caveat: str = "",
            kurtosis: Scalar = 0.0,
        ) -> None: ...

    def __post_init__(self):
        for name in ("prediction", "estimate", "se", "planted", "bias", "rtol", "skewness", "kurtosis"):
            object.__setattr__(self, name, to_float(getattr(self, name)))
        object.__setattr__(self, "n", int(self.n))
        if self.kind not in ("equal", "upper", "lower"):
            raise ValueError(f"kind: expected 'equal', 'upper' or 'lower', got {self.kind!r}.")
        if self.se < 0 or self.bias < 0 or self.rtol < 0:
            raise ValueError(f"se, bias, rtol: expected non-negative, got {self.se}, {self.bias}, {self.rtol}.")
        for name in ("bias", "rtol", "skewness", "kurtosis"):  # NaN or inf would silently decide every verdict
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name}: expected a finite number, got {getattr(self, name)}.")

    @classmethod
    def from_ensemble(
        cls,
        result,
        prediction: float,
        planted: float,
        *,
        label: str,
        leaf=None,
        bias: float = 0.0,
        rtol: float = 0.0,
        kind: Kind = "equal",
        note: str = "",
    ) -> "Comparison":
        """A row comparing ``prediction`` with the mean of one element of ``vg.ensemble``'s result.

        Carries the ensemble's sample skewness, so that the verdict widens the threshold on the
        skewed side (:meth:`clt_shift`) and is *inconclusive* where the normal approximation of
        the mean cannot be trusted (:meth:`reason`): a heavy-tailed quantity whose mean a few
        members carry is never refuted by a CLT that does not hold. Non-finite members and an
        ensemble whose members are all equal (no standard error) are inconclusive too. The
        skewness, kurtosis and the largest members' share of Σ|x| are written into ``note``.

        Args:
          result: a ``vgtheory.EnsembleResult``.
          prediction, planted: the theory value and a wrong value the check must reject.
          label: what is compared.
          leaf: which scalar of the ensemble's output: None (a scalar output), a key, or a
            tuple path such as ``("g", 3)`` (see ``vgtheory._stats.ensemble_scalar``).
          bias, rtol, kind, note: as for :class:`Comparison`.

        Raises:
          TypeError: ``result`` is not an ``EnsembleResult``. ValueError: ``leaf`` does not
            select one scalar; a bad ``kind``, negative ``bias`` or ``rtol``.

        Example:
          >>> import jax, vgtheory as vg
          >>> r = vg.ensemble(lambda k: jax.random.exponential(k), jax.random.key(0), 4000)
          >>> c = vg.Comparison.from_ensemble(r, 1.0, 1.2, label="E[Exp(1)]")
          >>> c.verdict(4.0)
          'confirmed'
        """
        from ._stats import ensemble_scalar

        e = ensemble_scalar(result, leaf)
        caveat = ""
        if e.nonfinite:
            caveat = f"{e.nonfinite} of {e.n} members are NaN or ±inf"
        elif e.se == 0:
            caveat = (
                f"all {e.n} members are equal: a Monte Carlo spread of 0 gives no standard error "
                "(an exact quantity belongs in a Comparison with se=0, n=1)"
            )
        skew = e.skewness if math.isfinite(e.skewness) else 0.0
        kurt = e.kurtosis if math.isfinite(e.kurtosis) else 0.0
        diag = (
            f"ensemble tails: skewness {e.skewness:.3g}, kurtosis {e.kurtosis:.3g}, largest 16 of n = {e.n} "
            f"carry {e.top_share:.1%} of Σ|x|; inconclusive where |skew|·(2k²+1)/(6√n) > {MAX_CLT_SHIFT:g} "
            f"or the SE has < {MIN_SE_DOF:g} effective degrees of freedom"
        )
        return cls(
            label=label,
            prediction=prediction,
            estimate=e.mean,
            se=e.se,
            n=e.n,
            planted=planted,
            bias=bias,
            rtol=rtol,
            kind=kind,
            note=f"{note}; {diag}" if note else diag,
            skewness=skew,
            caveat=caveat,
            kurtosis=kurt,
        )

    def clt_shift(self, k: float) -> float:
        """|γ̂|(2k² + 1)/(6√n): the one-term Cornish–Fisher correction, in standard errors, to the
        quantile k of the studentized mean of a sample with skewness γ̂ (Hall 1992, *The
        Bootstrap and Edgeworth Expansion*, §2.6: P(T ≤ x) = Φ(x) + γ(2x² + 1)φ(x)/(6√n) + O(1/n)).
        For γ̂ > 0 the estimate falls below the truth by more than k SE more often than the normal
        tail says, so the lower side's threshold becomes k + shift (the other side stays k)."""
        if self.skewness == 0 or self.se == 0 or self.n < 2:
            return 0.0
        return abs(self.skewness) * (2.0 * k * k + 1.0) / (6.0 * math.sqrt(self.n))

    def se_dof(self) -> float:
        """Effective degrees of freedom of the SE, ν = 2n/(κ̂ − (n−3)/(n−1)) (inf when no
        kurtosis is stated): the large-sample Var(s²) = σ⁴(κ − (n−3)/(n−1))/n matched to a
        scaled χ²_ν (Satterthwaite 1946), so ν = n − 1 for normal members."""
        if self.kurtosis <= 0 or self.se == 0 or self.n < 4:
            return math.inf
        excess = self.kurtosis - (self.n - 3) / (self.n - 1)
        return math.inf if excess <= 0 else 2.0 * self.n / excess

    def reason(self, k: float) -> str:
        """Why the normal approximation of this row cannot be trusted at threshold k ('' if it can).

        The Cornish–Fisher series is an expansion in γ/√n; once its first term moves the
        threshold by more than ``MAX_CLT_SHIFT`` = 1 SE, the neglected second-order terms
        (∝ γ²k⁵/n and the kurtosis) are of the same size, and the sample skewness itself is then
        typically an underestimate (the tail is undersampled), so no widening is trustworthy.
        """
        if self.caveat:
            return self.caveat
        dof = self.se_dof()
        if dof < MIN_SE_DOF:
            return (
                f"the SE is not resolved: kurtosis {self.kurtosis:.3g} over n = {self.n} leaves it "
                f"{dof:.3g} effective degrees of freedom (< {MIN_SE_DOF:g}); the mean is carried by a few "
                "members — use more members or compare a log-moment"
            )
        shift = self.clt_shift(k)
        if shift > MAX_CLT_SHIFT:
            return (
                f"the mean is not normal enough to test: skewness {self.skewness:.3g} over n = {self.n} "
                f"moves the z threshold {k:.3g} by {shift:.2g} SE (> {MAX_CLT_SHIFT:g}); use more members "
                "or compare a log-moment"
            )
        return ""

    def tolerance(self, k: float, against: float | None = None, side: int = 0) -> float:
        """k·SE + bias + rtol·|against|, with k widened by :meth:`clt_shift` on the skewed side:
        ``side`` −1 for an estimate below ``against``, +1 above, 0 the larger of the two."""
        ref = self.prediction if against is None else against
        shift = self.clt_shift(k)
        lo, hi = (shift, 0.0) if self.skewness > 0 else (0.0, shift)
        kk = k + (lo if side < 0 else hi if side > 0 else max(lo, hi))
        return kk * self.se + self.bias + self.rtol * abs(ref)

    def z(self) -> float:
        d = self.estimate - self.prediction
        return d / self.se if self.se > 0 else (0.0 if d == 0 else math.copysign(math.inf, d))

    def holds(self, k: float, value: float | None = None) -> bool:
        """Whether the estimate is consistent with ``value`` (default: the prediction)."""
        v = self.prediction if value is None else value
        if not (math.isfinite(self.estimate) and math.isfinite(v)):
            return False
        lo, hi = self.tolerance(k, v, -1), self.tolerance(k, v, +1)
        d = self.estimate - v
        if self.kind == "equal":
            return -lo <= d <= hi
        if self.kind == "upper":
            return d <= hi
        return d >= -lo

    def verdict(self, k: float) -> Verdict:
        """Refuted if the estimate is outside the tolerance of the prediction; inconclusive if
        the planted value is inside it too, the estimate is not finite, or :meth:`reason` says the
        normal approximation cannot be trusted; otherwise confirmed."""
        if not math.isfinite(self.estimate) or not math.isfinite(self.se) or self.reason(k):
            return "inconclusive"
        if not self.holds(k):
            return "refuted"
        if self.holds(k, self.planted):
            return "inconclusive"  # cannot tell the prediction from the planted error
        return "confirmed"

    def planted_rejected(self, k: float) -> bool:
        return not self.holds(k, self.planted)


@dataclasses.dataclass(frozen=True)
class Claim:
    """A registered claim.

    Attributes:
      id: SPEC id (``"S4"``, ``"L1"``) or a derived one (``"S3.corrected"``); a user's own id
        (``"MY1"``) for claims brought with ``vgtheory verify --claims``. Non-empty, no spaces.
      title: a few words.
      statement: the claim as its source states it (or the corrected statement).
      source: where it comes from (seed file and section, or paper and equation).
      run: ``run(key, full) -> list[Comparison]``; ``full`` selects large ensembles.
      expected: whether the statement is expected to hold. A textbook statement that the
        simulation refutes is registered with ``expected=False`` beside its corrected twin.
      area: which part of the toolkit it exercises (for ``--only`` and reports); ``"user"``
        unless given (every built-in claim names its area).
      full_only: run only under ``--full``.

    Raises:
      ValueError, TypeError: naming the field, for an empty id, a non-string text field, a
        non-callable ``run`` or a non-bool flag.
    """

    id: str
    title: str
    statement: str
    source: str
    run: Callable[[jax.Array, bool], list[Comparison]]
    expected: bool = True
    area: str = "user"
    full_only: bool = False

    def __post_init__(self):
        if not isinstance(self.id, str) or not self.id or any(ch.isspace() for ch in self.id):
            raise ArgumentTypeError(f"id: expected a non-empty string without spaces, got {self.id!r}.")
        for name in ("title", "statement", "source", "area"):
            if not isinstance(getattr(self, name), str):
                raise ArgumentTypeError(f"{name}: expected a string, got {getattr(self, name)!r}.")
        check_callable("run", self.run, "run(key, full) -> list[Comparison]")
        for name in ("expected", "full_only"):
            if not isinstance(getattr(self, name), bool):
                raise ArgumentTypeError(f"{name}: expected a bool, got {getattr(self, name)!r}.")


REGISTRY: dict[str, Claim] = {}  # id -> Claim, in registration order; read it through all_claims()


class DuplicateClaimError(ValueError):
    """Two different claims with one id; the message names where each comes from."""


def origin(c: Claim) -> str:
    """Where ``c`` is defined: ``function in file`` of its ``run`` (``module.function`` without a
    file, as in a notebook), for messages and reports."""
    mod = getattr(c.run, "__module__", None) or "?"
    name = getattr(c.run, "__qualname__", None) or type(c.run).__name__
    path = getattr(sys.modules.get(mod), "__file__", None)
    return f"{name} in {path}" if path else f"{mod}.{name}"


def _same_definition(a: Claim, b: Claim) -> bool:
    """True when ``b`` redefines ``a`` in place: the same module and function (a re-run notebook cell)."""
    key = lambda c: (getattr(c.run, "__module__", None), getattr(c.run, "__qualname__", None))
    name = key(a)[1]
    return key(a) == key(b) and name is not None and "<lambda>" not in name


def register(claim: Claim) -> Claim:
    """Adds ``claim`` to the registry and returns it.

    Ids are unique. Registering a claim again from the same module and function (a notebook
    cell run twice, a module reloaded) replaces the earlier definition; any other claim with a
    registered id raises :class:`DuplicateClaimError` naming both definitions.
    """
    if not isinstance(claim, Claim):
        raise ArgumentTypeError(f"claim: expected a vgtheory.Claim, got {type(claim).__name__}.")
    old = REGISTRY.get(claim.id)
    if old is not None and old is not claim and not _same_definition(old, claim):
        raise DuplicateClaimError(
            f"claim.id: {claim.id!r} is already registered by {origin(old)}; "
            f"cannot register it again from {origin(claim)}."
        )
    REGISTRY[claim.id] = claim
    return claim


def claim(
    id: str,
    *,
    title: str,
    statement: str,
    source: str,
    expected: bool = True,
    area: str = "user",
    full_only: bool = False,
) -> Callable[[Callable], Claim]:
    """Registers the decorated ``run(key, full) -> list[Comparison]`` as a :class:`Claim`.

    The decorated name is bound to the registered :class:`Claim`. A claim file (or module) of
    such functions runs with ``vgtheory verify --claims FILE``, the same table, JSON and HTML
    report as the built-in claims; an installed package declares its claim modules in the
    entry-point group ``vgtheory.claims``.

    Args:
      id: unique id (glob patterns of ``--only`` match it), e.g. ``"MY1"``.
      title, statement, source: a few words; the claim as stated; where it comes from.
      expected: whether the statement should hold (``False``: a statement expected to be refuted).
      area: a group name for ``--only`` (default ``"user"``).
      full_only: run only under ``--full``.

    Returns:
      The decorator; it raises :class:`DuplicateClaimError` for an id registered elsewhere.

    Example:
      >>> import vgtheory as vg
      >>> @vg.claim(id="DOC1", title="1 + 1 = 2", statement="1 + 1 = 2", source="arithmetic")
      ... def doc1(key, full):
      ...     return [vg.Comparison(label="1 + 1", prediction=2.0, estimate=1.0 + 1.0, se=0.0, n=1,
      ...                           planted=3.0, rtol=1e-12)]
      >>> vg.run_claim(doc1, vg.claim_key(0, "DOC1"), False).verdict
      'confirmed'
    """
    fields: dict[str, Any] = dict(
        id=id, title=title, statement=statement, source=source, expected=expected, area=area, full_only=full_only
    )
    Claim(run=lambda key, full: [], **fields)  # checks the fields now, not when the decorator is applied

    def wrap(run: Callable) -> Claim:
        return register(Claim(run=run, **fields))

    return wrap


def all_claims() -> dict[str, Claim]:
    """Every registered claim, in registration order.

    The built-in claims register when ``vgtheory`` is imported (``vgtheory/claims/``); a
    user's claims when their module runs (``@vg.claim``, :func:`vgtheory.load_claims`).
    """
    return dict(REGISTRY)


def claim_key(seed: int, claim_id: str) -> jax.Array:
    """The PRNG key of claim ``claim_id`` in a run with ``seed`` (what ``vgtheory verify`` uses).

    ``fold_in(key(seed), crc32(claim_id) & 0x7FFFFFFF)``: independent of which other claims run,
    so ``--only`` reproduces a claim's numbers from a full run.
    """
    check_int("seed", seed, lo=-(2**63), hi=2**63 - 1)
    if not isinstance(claim_id, str) or not claim_id:
        raise ArgumentTypeError(f"claim_id: expected a non-empty string, got {claim_id!r:.80}.")
    return jax.random.fold_in(jax.random.key(seed), zlib.crc32(claim_id.encode()) & 0x7FFFFFFF)


def _row_dict(c: Comparison, k: float) -> dict:
    """Every field of the row, and at threshold ``k`` its z (None when infinite), tolerance and verdicts."""
    z = c.z()
    return {
        **dataclasses.asdict(c),
        "z": z if abs(z) != math.inf else None,
        "tolerance": c.tolerance(k),
        "planted_rejected": c.planted_rejected(k),
        "verdict": c.verdict(k),
        "reason": c.reason(k),
    }


@dataclasses.dataclass(frozen=True, repr=False)
class ClaimResult:
    """The outcome of one claim: its rows and timing, and its verdict at the threshold ``k``.

    Attributes:
      claim: the :class:`Claim`.
      comparisons: its :class:`Comparison` rows (a tuple).
      seconds: wall time of ``claim.run``.
      error: ``"ExceptionType: message (at file:line)"`` when ``run`` raised, else None.
      k: the z threshold of the verdicts: the family-wise Bonferroni k over every row of the run
        (``vgtheory verify`` sets it with :meth:`with_k`), by default Bonferroni over this
        claim's own rows at α = 0.01 (what :func:`run_claim` computes).

    Properties ``verdict`` (``"confirmed"``, ``"refuted"`` or ``"inconclusive"``), ``verdicts``
    (per row) and ``as_expected`` are at ``k``; ``verdict_at(k)``, ``verdicts_at(k)`` and
    ``as_expected_at(k)`` take another threshold; ``as_dict()`` is the JSON record.
    """

    claim: Claim
    comparisons: Sequence[Comparison]  # stored as a tuple
    seconds: float
    error: str | None = None
    k: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "comparisons", tuple(self.comparisons))
        k = bonferroni_k(0.01, max(1, len(self.comparisons))) if self.k is None else self.k
        check_scalar("k", k, positive=True)
        object.__setattr__(self, "k", float(k))

    @property
    def _k(self) -> float:
        assert self.k is not None  # __post_init__ sets the default
        return self.k

    def with_k(self, k: float) -> "ClaimResult":
        """The same result with verdicts at threshold ``k`` (e.g. the family k of a whole run)."""
        return dataclasses.replace(self, k=k)

    def verdicts_at(self, k: float) -> list[Verdict]:
        return [c.verdict(k) for c in self.comparisons]

    def verdict_at(self, k: float) -> Verdict:
        """Refuted if a row is refuted, else inconclusive if a row (or the run) is, else confirmed."""
        if self.error is not None or not self.comparisons:
            return "inconclusive"
        v = self.verdicts_at(k)
        if "refuted" in v:
            return "refuted"
        if "inconclusive" in v:
            return "inconclusive"
        return "confirmed"

    def as_expected_at(self, k: float) -> bool:
        """Confirmed if expected to hold; refuted if registered as expected to fail."""
        return self.verdict_at(k) == ("confirmed" if self.claim.expected else "refuted")

    @property
    def verdicts(self) -> list[Verdict]:
        return self.verdicts_at(self._k)

    @property
    def verdict(self) -> Verdict:
        return self.verdict_at(self._k)

    @property
    def as_expected(self) -> bool:
        return self.as_expected_at(self._k)

    def as_dict(self) -> dict:
        """The claim, its rows and verdicts at ``k`` as plain JSON types (the record of ``--json``)."""
        c = self.claim
        return {
            "id": c.id,
            "title": c.title,
            "statement": c.statement,
            "source": c.source,
            "area": c.area,
            "expected": c.expected,
            "origin": origin(c),
            "verdict": self.verdict,
            "as_expected": self.as_expected,
            "k": self.k,
            "seconds": self.seconds,
            "error": self.error,
            "comparisons": [_row_dict(r, self._k) for r in self.comparisons],
        }

    def __repr__(self) -> str:
        err = f", error={self.error!r}" if self.error else ""
        return (
            f"ClaimResult(id={self.claim.id!r}, verdict={self.verdict!r}, as_expected={self.as_expected}, "
            f"rows={len(self.comparisons)}, k={self.k:.3g}, seconds={self.seconds:.3g}{err})"
        )

    def __str__(self) -> str:
        want = "hold" if self.claim.expected else "fail"
        lines = [
            f"{self.claim.id}: {self.verdict} (expected to {want}: "
            f"{'as expected' if self.as_expected else 'NOT as expected'}); {len(self.comparisons)} rows at "
            f"k = {self.k:.3g}, {self.seconds:.2f} s"
        ]
        if self.error:
            lines.append(f"  error: {self.error}")
        for r in self.comparisons:
            lines.append(
                f"  {r.verdict(self._k):12s} {r.label}: prediction {r.prediction:.6g}, "
                f"estimate {r.estimate:.6g} ± {r.se:.3g} (n = {r.n})"
            )
        return "\n".join(lines)


def _where(e: BaseException, c: Claim) -> str:
    """`` (at file:line)`` of the deepest traceback frame in ``c.run``'s file (else the deepest)."""
    frames = traceback.extract_tb(e.__traceback__)
    code = getattr(c.run, "__code__", None)
    own = [f for f in frames if code is not None and f.filename == code.co_filename]
    f = (own or frames or [None])[-1]
    return "" if f is None else f" (at {os.path.basename(f.filename)}:{f.lineno})"


def _is_key(key) -> bool:
    dt = getattr(key, "dtype", None)
    if dt is not None and jnp.issubdtype(dt, jax.dtypes.prng_key):
        return True
    return dt == np.uint32 and getattr(key, "shape", None) == (2,)  # a legacy raw key


def run_claim(c: Claim, key: jax.Array, full: bool, *, alpha: float = 0.01) -> ClaimResult:
    """Runs one claim, timing it; an exception becomes an inconclusive result with ``error`` set.

    Args:
      c: a :class:`Claim` (``vg.all_claims()[id]``, or what ``@vg.claim`` returns).
      key: its PRNG key (``vg.claim_key(seed, c.id)`` is the one ``vgtheory verify`` uses).
      full: large ensembles.
      alpha: family-wise false-alarm rate of the verdict over this claim's rows (Bonferroni);
        ``vgtheory verify`` re-thresholds every result over the whole run (:meth:`ClaimResult.with_k`).

    Returns:
      A :class:`ClaimResult`; ``print`` it for the rows, ``.verdict`` for the verdict.
    """
    if not isinstance(c, Claim):
        raise ArgumentTypeError(f"c: expected a vgtheory.Claim (see vg.claim, vg.all_claims), got {c!r:.80}.")
    if not _is_key(key):
        raise ArgumentTypeError(f"key: expected a PRNG key (jax.random.key), got {key!r:.80}.")
    if not isinstance(full, (bool, np.bool_)):
        raise ArgumentTypeError(f"full: expected a bool, got {full!r:.80}.")
    check_scalar("alpha", alpha)
    t0 = time.perf_counter()
    try:
        rows, err = list(c.run(key, bool(full))), None
        wrong = [r for r in rows if not isinstance(r, Comparison)]
        if wrong:
            rows, err = [], f"TypeError: run: expected a list of vgtheory.Comparison, got a {type(wrong[0]).__name__}"
    except Exception as e:  # reported, never swallowed silently
        rows, err = [], f"{type(e).__name__}: {e}{_where(e, c)}"
    return ClaimResult(c, rows, time.perf_counter() - t0, err, bonferroni_k(alpha, max(1, len(rows))))


def family_k(results: list[ClaimResult], alpha: float) -> float:
    """Bonferroni z threshold over every comparison row of a run."""
    m = max(1, sum(len(r.comparisons) for r in results))
    return bonferroni_k(alpha, m)

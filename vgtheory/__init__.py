"""vgtheory: the theory of vanishing and exploding gradients as checked, reproducible numbers.

``import vgtheory as vg``. Every public name is re-exported here from a small private
module; ``vg.theory`` holds the closed forms, each citing its source.
"""

# --- foundation: statistics, ensembles, claims -------------------------------------
from ._stats import Estimate as Estimate
from ._stats import estimate as estimate
from ._stats import ratio_estimate as ratio_estimate
from ._stats import variance_estimate as variance_estimate
from ._stats import bonferroni_k as bonferroni_k
from ._ensemble import ensemble as ensemble
from ._ensemble import EnsembleResult as EnsembleResult
from ._claims import Claim as Claim
from ._claims import Comparison as Comparison
from ._claims import register as register
from ._claims import all_claims as all_claims
from ._claims import run_claim as run_claim

# --- foundation: networks, Jacobians, gradient flow (lead) -------------------------
from ._activations import Activation as Activation
from ._activations import activation as activation
from ._activations import ACTIVATIONS as ACTIVATIONS
from ._mlp import MLP as MLP
from ._mlp import init_mlp as init_mlp
from ._mlp import mlp_apply as mlp_apply
from ._mlp import preactivations as preactivations
from ._jacobian import input_jacobian as input_jacobian
from ._jacobian import jacobian_operator as jacobian_operator
from ._jacobian import JacobianOperator as JacobianOperator
from ._jacobian import layer_jacobians as layer_jacobians
from ._jacobian import mlp_jacobian as mlp_jacobian
from ._jacobian import gradient_flow as gradient_flow
from ._jacobian import GradientFlow as GradientFlow

# --- spectra (issue 3) -------------------------------------------------------------

# --- lyapunov, RNNs, BPTT (issue 4) -------------------------------------------------

# --- hessian and landscape (issue 5) ------------------------------------------------

# --- mechanisms: residual, normalisation, attention, ... (issue 6) ------------------

from . import theory as theory  # noqa: E402

__version__ = "0.1.0"

"""vgtheory: the theory of vanishing and exploding gradients as checked, reproducible numbers.

``import vgtheory as vg``. Every public name is re-exported here from a small private
module; ``vg.theory`` holds the closed forms, each citing its source.
"""

# --- foundation: statistics, ensembles, claims -------------------------------------
from ._stats import Estimate as Estimate
from ._stats import estimate as estimate
from ._stats import ratio_estimate as ratio_estimate
from ._stats import variance_estimate as variance_estimate
from ._stats import log_mean_estimate as log_mean_estimate
from ._stats import bonferroni_k as bonferroni_k
from ._ensemble import ensemble as ensemble
from ._ensemble import EnsembleResult as EnsembleResult
from ._claims import Claim as Claim
from ._claims import Comparison as Comparison
from ._claims import register as register
from ._claims import all_claims as all_claims
from ._claims import run_claim as run_claim
from ._claims import claim as claim
from ._claims import claim_key as claim_key
from ._claims import ClaimResult as ClaimResult
from ._claims import DuplicateClaimError as DuplicateClaimError
from ._user_claims import load_claims as load_claims

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
from ._jacobian import chain_product as chain_product
from ._jacobian import gradient_flow as gradient_flow
from ._jacobian import GradientFlow as GradientFlow
from ._module_flow import module_gradient_flow as module_gradient_flow
from ._module_flow import ModuleGradientFlow as ModuleGradientFlow
from ._module_flow import tap as tap

# --- spectra (issue 3) -------------------------------------------------------------
from ._spectrum import singular_values as singular_values
from ._spectrum import spectrum as spectrum
from ._spectrum import Spectrum as Spectrum
from ._spectrum import condition_number as condition_number
from ._spectrum import jjt_moments as jjt_moments
from ._spectrum import SpectrumMoments as SpectrumMoments
from ._spectrum import spectral_density as spectral_density
from ._spectrum import Density as Density
from ._logspectrum import log_singular_values as log_singular_values
from ._logspectrum import log_singular_values_scan as log_singular_values_scan
from ._logspectrum import LogSpectrum as LogSpectrum

# --- lyapunov, RNNs, BPTT (issue 4) -------------------------------------------------
from ._lyapunov import LyapunovResult as LyapunovResult
from ._lyapunov import lyapunov_spectrum as lyapunov_spectrum
from ._lyapunov import log_volume_growth as log_volume_growth
from ._lyapunov import reortho_for_spread as reortho_for_spread
from ._lyapunov import spread_budget as spread_budget
from ._bptt import BPTTResult as BPTTResult
from ._bptt import bptt_gradient_norms as bptt_gradient_norms
from ._rnn import RNNParams as RNNParams
from ._rnn import CellParams as CellParams
from ._rnn import recurrent_matrix as recurrent_matrix
from ._rnn import init_rnn as init_rnn
from ._rnn import rnn_step as rnn_step
from ._rnn import init_lstm as init_lstm
from ._rnn import lstm_step as lstm_step
from ._rnn import lstm_forget_gate as lstm_forget_gate
from ._rnn import init_gru as init_gru
from ._rnn import gru_step as gru_step
from ._rnn import initial_state as initial_state

# --- hessian and landscape (issue 5) ------------------------------------------------
from ._hvp import hvp as hvp
from ._hvp import hessian_operator as hessian_operator
from ._hvp import HessianOperator as HessianOperator
from ._operator import LinearOperator as LinearOperator
from ._operator import as_operator as as_operator
from ._operator import matrix_operator as matrix_operator
from ._operator import lanczos_svd as lanczos_svd
from ._operator import SingularTriplets as SingularTriplets
from ._hvp import dense_hessian as dense_hessian
from ._lanczos import lanczos_tridiag as lanczos_tridiag
from ._lanczos import tridiag_eigh as tridiag_eigh
from ._lanczos import lanczos_eigh as lanczos_eigh
from ._lanczos import hessian_eigh as hessian_eigh
from ._lanczos import power_iteration as power_iteration
from ._lanczos import Tridiagonal as Tridiagonal
from ._lanczos import Eigenpairs as Eigenpairs
from ._lanczos import HessianEigenpairs as HessianEigenpairs
from ._lanczos import PowerResult as PowerResult
from ._slq import slq as slq
from ._slq import hessian_slq as hessian_slq
from ._slq import slq_density as slq_density
from ._slq import SpectralMeasure as SpectralMeasure
from ._trace import hutchinson as hutchinson
from ._trace import hutchpp as hutchpp
from ._trace import hessian_trace as hessian_trace
from ._trace import TraceEstimate as TraceEstimate
from ._gd_stability import gd_quadratic as gd_quadratic
from ._gd_stability import direction_rate as direction_rate
from ._gd_stability import perturbation_rate as perturbation_rate
from ._gd_stability import newton_vs_gd as newton_vs_gd
from ._gd_stability import NewtonGD as NewtonGD
from ._landscape import train_to_minimum as train_to_minimum
from ._landscape import Minimum as Minimum
from ._landscape import sharpness_trajectory as sharpness_trajectory
from ._landscape import SharpnessTrajectory as SharpnessTrajectory
from ._landscape import optimizer_steps as optimizer_steps
from ._landscape import gd_train as gd_train

# --- mechanisms: residual, normalisation, attention, ... (issue 6) ------------------
from ._residual import ResNet as ResNet
from ._residual import init_resnet as init_resnet
from ._residual import resnet_apply as resnet_apply
from ._residual import resnet_log_gain as resnet_log_gain
from ._residual import residual_block as residual_block
from ._residual import stack_gradient_flow as stack_gradient_flow
from ._residual import stack_tangent_flow as stack_tangent_flow
from ._residual import StackFlow as StackFlow
from ._norm import batch_norm as batch_norm
from ._norm import layer_norm as layer_norm
from ._norm import norm_mlp_apply as norm_mlp_apply
from ._norm import norm_mlp_gradient_flow as norm_mlp_gradient_flow
from ._attention import Attention as Attention
from ._attention import init_attention as init_attention
from ._attention import self_attention as self_attention
from ._attention import attention_block as attention_block
from ._attention import attention_residuals as attention_residuals
from ._attention import rank_one_residual as rank_one_residual
from ._quantum import circuit_state as circuit_state
from ._quantum import circuit_energy as circuit_energy
from ._quantum import pauli_expectation as pauli_expectation
from ._quantum import random_circuit_gradients as random_circuit_gradients
from ._underflow import UnderflowStep as UnderflowStep
from ._underflow import underflow_step as underflow_step
from ._losses import sigmoid_mse as sigmoid_mse
from ._losses import sigmoid_bce as sigmoid_bce
from ._losses import logit_grad as logit_grad
from ._losses import autodiff_logit_grad as autodiff_logit_grad
from ._euler import EulerErrors as EulerErrors
from ._euler import euler_errors as euler_errors
from ._euler import euler_flow as euler_flow

# --- diagnose: a gradient-health report for the user's own model (issue 15) ---------
from ._diagnose import diagnose as diagnose
from ._diagnose import Problem as Problem
from ._diagnose import Recurrent as Recurrent
from ._diagnose import MeanFieldHint as MeanFieldHint
from ._diagnose import Diagnosis as Diagnosis

from . import theory as theory  # noqa: E402
from . import claims as claims  # noqa: E402  (registers the built-in claims, after every module above)

__version__ = "0.1.0"

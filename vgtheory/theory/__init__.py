"""Closed forms (``vg.theory``): each function cites its source in its docstring."""

# --- foundation: seeds S1–S4, mean field L1 (lead) ---------------------------------
from ._meanfield import gauss_expectation as gauss_expectation
from ._meanfield import length_map as length_map
from ._meanfield import q_trajectory as q_trajectory
from ._meanfield import qstar as qstar
from ._meanfield import kappa as kappa
from ._meanfield import chi1 as chi1
from ._meanfield import correlation_map as correlation_map
from ._meanfield import mean_field as mean_field
from ._meanfield import MeanField as MeanField
from ._meanfield import PHASES as PHASES
from ._meanfield import critical_sigma_w2 as critical_sigma_w2
from ._seeds import sigmoid_chain_bound as sigmoid_chain_bound
from ._seeds import spectral_bound as spectral_bound
from ._seeds import linear_gradient_gain as linear_gradient_gain
from ._seeds import constant_kappa_gain as constant_kappa_gain
from ._seeds import mean_field_gain as mean_field_gain

# --- spectra: random-matrix laws L4, L5, S5, L2 (issue 3) ----------------------------
from ._rmt import marchenko_pastur_density as marchenko_pastur_density
from ._rmt import marchenko_pastur_moments as marchenko_pastur_moments
from ._rmt import wishart_moments_finite as wishart_moments_finite
from ._rmt import fuss_catalan as fuss_catalan
from ._rmt import gaussian_product_moments as gaussian_product_moments
from ._rmt import isometry_moments as isometry_moments
from ._rmt import near_identity_log_rate as near_identity_log_rate
from ._rmt import relu_log_norm_moments as relu_log_norm_moments
from ._rmt import hanin_nica_log_variance as hanin_nica_log_variance

# --- lyapunov: L3, L7, S6, S17 (issue 4) -------------------------------------------
from ._lyapunov_theory import gaussian_product_exponents as gaussian_product_exponents
from ._lyapunov_theory import rnn_mean_field_exponent as rnn_mean_field_exponent
from ._lyapunov_theory import s6_log_bound as s6_log_bound
from ._lyapunov_theory import lstm_forget_log_rate as lstm_forget_log_rate

# --- hessian: S7, S15, L8 (issue 5) ------------------------------------------------
from ._landscape_theory import gd_stability_threshold as gd_stability_threshold
from ._landscape_theory import gd_contraction as gd_contraction
from ._landscape_theory import gd_rate as gd_rate
from ._landscape_theory import newton_step as newton_step
from ._landscape_theory import newton_gd_ratio as newton_gd_ratio
from ._landscape_theory import adam_first_step as adam_first_step
from ._landscape_theory import adam_first_step_uncorrected as adam_first_step_uncorrected
from ._landscape_theory import momentum_step as momentum_step
from ._landscape_theory import eos_sharpness as eos_sharpness

# --- mechanisms: S8–S13, S16, L6, L9, L10 (issue 6) ---------------------------------
from ._mechanisms import WidthRatio as WidthRatio
from ._mechanisms import width_ratio as width_ratio
from ._mechanisms import residual_gain as residual_gain
from ._mechanisms import standardized_expectation as standardized_expectation
from ._mechanisms import saturation_derivative as saturation_derivative
from ._mechanisms import bn_gradient_rate as bn_gradient_rate
from ._mechanisms import derivative_bound as derivative_bound
from ._mechanisms import negative_side_derivative as negative_side_derivative
from ._mechanisms import dying_relu_probability as dying_relu_probability
from ._mechanisms import predicted_underflow_step as predicted_underflow_step
from ._mechanisms import underflow_step as underflow_step  # deprecated alias of predicted_underflow_step
from ._mechanisms import euler_amplification as euler_amplification
from ._mechanisms import barren_plateau_variance as barren_plateau_variance
from ._mechanisms import rank_collapse_exponent as rank_collapse_exponent
from ._mechanisms import attention_collapse_bound as attention_collapse_bound

# --- finite-size corrections (issue 9) -------------------------------------------------
from ._finite_size import BNSaturation as BNSaturation
from ._finite_size import bn_saturation_derivative as bn_saturation_derivative
from ._finite_size import bn_saturation_bias as bn_saturation_bias

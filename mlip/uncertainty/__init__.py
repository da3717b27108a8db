"""Single-model uncertainty: last-layer prediction rigidity (LLPR, Bigi et al. 2024).

A trained model's atomic energy is linear in its last readout layer, e_i = f_i·w + shift[Z_i],
so the training data fix how "rigid" a prediction is along each feature direction. With the
per-atom last-layer features f_i (:mod:`.last_layer_features`), the covariance of the training
structures' summed features (:mod:`.covariance`) and two constants α, λ fitted on validation
data (:mod:`.calibration`),

    σ² = α · fᵀ (FᵀF + λ I)⁻¹ f

gives an energy uncertainty per structure (f = Σ_i f_i) and per atom (f = f_i, calibrated
against the atom's force error) from ONE model at the cost of a 16-wide matrix product
(:mod:`.llpr`). Forces are linear in the last layer as well: :mod:`.force_llpr` gives a
per-atom force σ from the features' position derivatives (one backward pass per feature).
"""
from mlip.uncertainty.calibration import fit_variance_scale
from mlip.uncertainty.covariance import FeatureCovariance
from mlip.uncertainty.force_llpr import ForceLLPR, fit_force_llpr
from mlip.uncertainty.last_layer_features import ReadoutRecorder, force_feature_jacobian, last_layer_features, learned_network
from mlip.uncertainty.llpr import LLPR, LLPRSigmas, fit_llpr

__all__ = ["FeatureCovariance", "ForceLLPR", "LLPR", "LLPRSigmas", "ReadoutRecorder", "fit_force_llpr", "fit_llpr",
           "fit_variance_scale", "force_feature_jacobian", "last_layer_features", "learned_network"]

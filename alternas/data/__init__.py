"""Training data: the built-in digits and deterministic batching (:func:`alternas.sources.load_training_set`
chooses the source)."""

from .digits_data import digits_training_set, load_digits_tensors
from .training_set import TrainingSet

__all__ = ["TrainingSet", "digits_training_set", "load_digits_tensors"]

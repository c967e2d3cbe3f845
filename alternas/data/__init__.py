"""Training data: sources, deterministic batching, and loading for a run."""

from .digits import load_digits_tensors
from .loading import load_training_set
from .training_set import TrainingSet

__all__ = ["TrainingSet", "load_digits_tensors", "load_training_set"]

"""A recurrent sequence classifier: shared parameters plus its train and predict functions.

Each function is compiled once, on first use, and then serves every batch of the run; the
optimiser's hyper-parameters are shared variables, so changing them never recompiles.
"""

from collections.abc import Callable, Mapping
from functools import cached_property

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.tensor.special import log_softmax

from src.data.dataset import SequenceDataset
from src.models.backend import COMPILE_MODE
from src.models.elman import elman_logits
from src.models.losses import cross_entropy
from src.models.optimizers import OPTIMIZERS


class SequenceClassifier:
    """An Elman RNN classifier over batches shaped (batch, time, features).

    params: initial NumPy parameters by name (see ``init_elman_params``).
    optimizer: a key of ``OPTIMIZERS``; hyperparams: its keyword arguments (e.g. ``lr``).
    dtype: 'float32' or 'float64' for parameters, inputs and arithmetic.
    """

    def __init__(
        self,
        params: Mapping[str, np.ndarray],
        optimizer: str = "sgd",
        hyperparams: Mapping[str, float] | None = None,
        dtype: str = "float64",
    ):
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {optimizer!r}; known: {sorted(OPTIMIZERS)}")
        self.dtype = dtype
        self.optimizer = optimizer
        self.params = {
            name: pytensor.shared(np.asarray(value, dtype=dtype), name=name)
            for name, value in params.items()
        }
        self.hyperparams = {
            name: pytensor.shared(np.asarray(value, dtype=dtype), name=name)
            for name, value in (hyperparams or {}).items()
        }
        self.inputs = pt.tensor3("inputs", dtype=dtype)
        self.mask = pt.matrix("mask", dtype=dtype)
        self.labels = pt.ivector("labels")
        self.logits = elman_logits(self.params, self.inputs, self.mask)
        self.loss = cross_entropy(self.logits, self.labels)

    @cached_property
    def train_step(self) -> Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
        """Compiled ``(inputs, mask, labels) -> loss`` that also applies one optimiser update."""
        params = list(self.params.values())
        grads = pytensor.grad(self.loss, params)
        updates = OPTIMIZERS[self.optimizer](params, grads, **self.hyperparams)
        return pytensor.function(
            [self.inputs, self.mask, self.labels],
            self.loss,
            updates=updates,
            mode=COMPILE_MODE,
            name="train_step",
        )

    @cached_property
    def log_proba(self) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        """Compiled ``(inputs, mask) -> log class probabilities (batch, classes)``."""
        return pytensor.function(
            [self.inputs, self.mask],
            log_softmax(self.logits, axis=-1),
            mode=COMPILE_MODE,
            name="log_proba",
        )

    def train_batch(self, batch: SequenceDataset) -> float:
        """Apply one optimiser step on ``batch``; return its loss before the step."""
        return float(self.train_step(batch.inputs, batch.mask, batch.labels))

    def predict_log_proba(self, dataset: SequenceDataset, batch_size: int) -> np.ndarray:
        """Log class probabilities (num_sequences, classes) of ``dataset``, in batches."""
        return np.concatenate(
            [self.log_proba(b.inputs, b.mask) for b in dataset.batches(batch_size)]
        )

    def evaluate(self, dataset: SequenceDataset, batch_size: int) -> dict[str, float]:
        """Return mean cross-entropy ``loss`` and ``accuracy`` on ``dataset``."""
        log_probs = self.predict_log_proba(dataset, batch_size)
        picked = log_probs[np.arange(len(dataset)), dataset.labels]
        accuracy = np.mean(log_probs.argmax(axis=1) == dataset.labels)
        return {"loss": float(-picked.mean()), "accuracy": float(accuracy)}

    def get_weights(self) -> dict[str, np.ndarray]:
        """Copy the current parameters out as NumPy arrays by name."""
        return {name: shared.get_value() for name, shared in self.params.items()}

"""A sequence classifier: shared parameters plus its train and predict functions.

Each function is compiled once, on first use, and then serves every batch of the run; the
optimiser's hyper-parameters and the dropout rate are shared variables, so changing them never
recompiles.
"""

from collections.abc import Callable, Iterator, Mapping
from contextlib import nullcontext
from functools import cached_property
from typing import NamedTuple, Protocol

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile.mode import Mode

from seqlab.models.compiling import COMPILE_MODE, announce_compile, compile_function
from seqlab.models.dropout import Dropout
from seqlab.models.losses import cross_entropy, log_softmax, training_loss
from seqlab.models.network import NetworkSpec, network_logits
from seqlab.models.optimizers import Optimizer, OptimizerSpec


class Sequences(Protocol):
    """What the classifier reads of a data set (``seqlab.data.dataset.SequenceDataset`` is one):
    ``inputs`` (batch, time, features) floats or (batch, time) int tokens, ``mask`` (batch,
    time), ``labels`` (batch,) class indices, and minibatches of itself in order."""

    inputs: np.ndarray
    mask: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int: ...

    def batches(self, size: int) -> Iterator["Sequences"]: ...


class TrainStep(NamedTuple):
    """What one training step reports: the batch's mean loss and accuracy, and the lr used."""

    loss: float
    accuracy: float
    lr: float


class SequenceClassifier:
    """A network (``NetworkSpec``) with its parameters and optimiser, ready to train and predict.

    params: initial NumPy parameters by name (see ``init_network_params``).
    optimizer: the update rule of ``train_step``; None for a classifier that only predicts.
    dtype: 'float32' or 'float64' for parameters, real-valued inputs and arithmetic.
    seed: seeds the dropout masks.
    frozen: names of parameters the train step leaves as they are (a pretrained embedding).
    label_smoothing, class_weights (classes,): the training objective's (``training_loss``;
    none and equal weights by default); evaluation reports the plain cross-entropy.
    mode: PyTensor compile mode (the C backend by default).
    """

    def __init__(
        self,
        spec: NetworkSpec,
        params: Mapping[str, np.ndarray],
        optimizer: OptimizerSpec | None = None,
        dtype: str = "float64",
        seed: int | list[int] = 0,
        mode: str | Mode = COMPILE_MODE,
        frozen: tuple[str, ...] = (),
        label_smoothing: float = 0.0,
        class_weights: np.ndarray | None = None,
    ):
        self.spec = spec
        self.dtype = dtype
        self.mode = mode
        self.params = {
            name: pytensor.shared(np.asarray(value, dtype=dtype), name=name) for name, value in params.items()
        }
        self.optimizer = Optimizer(optimizer, dtype) if optimizer is not None else None
        self.frozen = frozen
        weights = np.ones(spec.num_classes) if class_weights is None else class_weights
        self.label_smoothing = pytensor.shared(np.asarray(label_smoothing, dtype=dtype), name="label_smoothing")
        self.class_weights = pytensor.shared(np.asarray(weights, dtype=dtype), name="class_weights")
        self.dropout = (
            Dropout(spec.dropout_rates, seed, dtype, spec.network.variational_dropout) if spec.dropout_rates else None
        )
        self.inputs = pt.imatrix("tokens") if spec.uses_tokens else pt.tensor3("inputs", dtype=dtype)
        self.mask = pt.matrix("mask", dtype=dtype)
        self.labels = pt.ivector("labels")
        self.logits = network_logits(spec, self.params, self.inputs, self.mask)
        self.loss = cross_entropy(self.logits, self.labels)
        self.steps_taken = 0  # by train_batch in this process

    def training_graph(self) -> tuple[list, list]:
        """The outputs of one training step, ``[loss, correct, learning rate]`` of the batch
        before the update (with dropout when the network has it), and its updates: the
        optimiser's, then the network's constraints (``NetworkSpec.constraints``: max-norm) on
        the new values of the parameters they name, batch norm's running statistics and the
        dropout generator's state."""
        if self.optimizer is None:
            raise ValueError("this classifier was built without an optimizer: it predicts but cannot train")
        statistics: list = []  # batch normalisation's running statistics
        logits = network_logits(self.spec, self.params, self.inputs, self.mask, self.dropout, statistics)
        loss = training_loss(logits, self.labels, self.label_smoothing, self.class_weights)
        fixed = (*self.frozen, *self.spec.running_stats)
        params = [shared for name, shared in self.params.items() if name not in fixed]
        updates, lr = self.optimizer.updates(params, pytensor.grad(loss, params))
        constraints = self.spec.constraints
        updates = [(shared, constraints.get(shared.name, lambda new: new)(new)) for shared, new in updates]
        updates += [statistic.update() for statistic in statistics]
        if self.dropout is not None:
            updates += self.dropout.updates
        correct = pt.eq(logits.argmax(axis=-1), self.labels).sum()
        return [loss, correct, lr], updates

    @cached_property
    def train_step(self) -> Callable[..., list[np.ndarray]]:
        """Compiled ``(inputs, mask, labels) -> [loss, correct, learning rate]`` applying one
        update (``training_graph``)."""
        outputs, updates = self.training_graph()
        with announce_compile(f"{self._what} train step"):
            return compile_function(
                [self.inputs, self.mask, self.labels], outputs, self.mode, "train_step", updates=updates
            )

    @cached_property
    def log_proba(self) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        """Compiled ``(inputs, mask) -> log class probabilities (batch, classes)``, no dropout."""
        with announce_compile(f"{self._what} prediction"):
            return compile_function([self.inputs, self.mask], log_softmax(self.logits), self.mode, "log_proba")

    @cached_property
    def _batch_statistics(self) -> tuple[list, Callable[[np.ndarray, np.ndarray], list[np.ndarray]]]:
        """Batch normalisation's running statistics (shared variables) and the compiled
        ``(inputs, mask) -> [their values on that batch]`` (training mode, no dropout)."""
        statistics: list = []
        network_logits(self.spec, self.params, self.inputs, self.mask, None, statistics)
        with announce_compile(f"{self._what} batch statistics"):
            values = compile_function(
                [self.inputs, self.mask], [s.batch for s in statistics], self.mode, "batch_statistics"
            )
        return [s.running for s in statistics], values

    def recompute_norm_statistics(self, dataset: Sequences, batch_size: int) -> None:
        """Set batch normalisation's running statistics to their values on ``dataset`` under the
        current weights: each batch's mean and variance (training mode, no dropout), averaged
        over batches weighted by their sequences, as precise BN does (Wu and Johnson 2021). A
        dataset in one batch gets its exact statistics. No-op for a network without batch norm."""
        if not self.spec.running_stats or not len(dataset):
            return
        running, values = self._batch_statistics
        sums, count = [np.zeros(shared.get_value().shape) for shared in running], 0
        for batch in dataset.batches(batch_size):
            for total, value in zip(sums, values(batch.inputs, batch.mask), strict=True):
                total += len(batch) * value
            count += len(batch)
        for shared, total in zip(running, sums, strict=True):
            shared.set_value((total / count).astype(self.dtype))

    @property
    def _what(self) -> str:
        return self.spec.title

    def train_batch(self, batch: Sequences) -> "TrainStep":
        """Apply one optimiser step on ``batch``; return its loss and accuracy before the step
        and the learning rate used. The first step also compiles its Ops' kernels (the float32
        LSTM's Numba loops): announced when that takes a while, apart from the compile of the
        step's function (announced by ``train_step``), which comes first."""
        step = self.train_step
        with announce_compile(f"{self._what} first training step") if self.steps_taken == 0 else nullcontext():
            loss, correct, lr = step(batch.inputs, batch.mask, batch.labels)
        self.steps_taken += 1
        return TrainStep(float(loss), float(correct) / len(batch), float(lr))

    def predict_log_proba(self, dataset: Sequences, batch_size: int) -> np.ndarray:
        """Log class probabilities (num_sequences, classes) of ``dataset``, in batches."""
        return np.concatenate([self.log_proba(b.inputs, b.mask) for b in dataset.batches(batch_size)])

    def get_weights(self) -> dict[str, np.ndarray]:
        """Copy the current parameters out as NumPy arrays by name."""
        return {name: shared.get_value() for name, shared in self.params.items()}

    def set_weights(self, weights: Mapping[str, np.ndarray]) -> None:
        """Replace the parameters with ``weights`` (same names and shapes as ``get_weights``)."""
        for name, value in weights.items():
            self.params[name].set_value(np.asarray(value, dtype=self.dtype))

    def training_state(self) -> dict:
        """Everything a train step reads and changes: parameters, optimiser state and the
        dropout generator, as arrays and numbers (see ``load_training_state``)."""
        _ = self.train_step  # compiling the step creates the optimiser's slots
        return {
            "params": self.get_weights(),
            "optimizer": self.optimizer.state(),
            "dropout_rng": self.dropout.state() if self.dropout is not None else None,
        }

    def load_training_state(self, state: dict) -> None:
        """Continue training exactly where ``training_state()`` was taken."""
        _ = self.train_step  # compiling the step creates the optimiser's slots
        self.set_weights(state["params"])
        self.optimizer.load_state(state["optimizer"])
        if self.dropout is not None:
            self.dropout.load_state(state["dropout_rng"])

"""Optimisers as PyTensor update lists, applied inside the one compiled train function.

``Optimizer.updates(params, grads)`` returns the ``(shared_variable, new_value)`` pairs for
``pytensor.function(updates=...)``: gradient clipping, L2 weight decay, the learning-rate
schedule and the update rule, all in the graph. Every hyper-parameter is a shared variable, so
one compiled function serves every value of a sweep; only the rule's name, Nesterov on/off and
the schedule's name shape the graph.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.tensor.variable import TensorVariable

from seqlab.models.schedules import lr_factor, warmup_factor

Updates = list[tuple[SharedVariable, TensorVariable]]


@dataclass(frozen=True)
class OptimizerSpec:
    """An update rule and its settings (built from a validated ``optimizer`` config by
    ``seqlab.experiments.training.builders``, whose schema holds the defaults).

    hyperparams: the rule's own numbers (``momentum``, ``beta1`` …) and every one of
    ``REQUIRED_HYPERPARAMS``: ``lr``, ``weight_decay`` (L2; decoupled for AdamW), ``clip_norm``
    (global gradient norm; 0 = off), the schedule's ``warmup_epochs``, ``step_epochs`` and
    ``gamma``, and ``steps_per_epoch`` and ``total_epochs``, which turn steps into epochs.
    schedule: 'constant', 'step' or 'cosine'.
    """

    name: str
    hyperparams: Mapping[str, float]
    nesterov: bool
    schedule: str


REQUIRED_HYPERPARAMS = (
    "lr",
    "weight_decay",
    "clip_norm",
    "warmup_epochs",
    "step_epochs",
    "gamma",
    "steps_per_epoch",
    "total_epochs",
)


class Optimizer:
    """The state (shared variables) and update expressions of one optimiser."""

    def __init__(self, spec: OptimizerSpec, dtype: str):
        if spec.name not in RULES:
            raise ValueError(f"unknown optimizer {spec.name!r}; known: {sorted(RULES)}")
        missing = [name for name in REQUIRED_HYPERPARAMS if name not in spec.hyperparams]
        if missing:
            raise ValueError(f"optimizer {spec.name!r} needs hyper-parameters {missing}")
        self.spec = spec
        self.dtype = dtype
        values = dict(spec.hyperparams)
        self.hyper = {
            name: pytensor.shared(np.asarray(value, dtype=dtype), name=name) for name, value in values.items()
        }
        self.steps_done = pytensor.shared(np.asarray(0.0, dtype=dtype), name="steps_done")
        # A multiplier of the scheduled rate set between epochs (reduce-on-plateau), 1 otherwise.
        self.lr_scale = pytensor.shared(np.asarray(1.0, dtype=dtype), name="lr_scale")
        self.slots: list[SharedVariable] = []

    def slot(self, param: SharedVariable, kind: str) -> SharedVariable:
        """A new zero-initialised state variable shaped like ``param`` (e.g. a moment)."""
        value = np.zeros_like(param.get_value())
        variable = pytensor.shared(value, name=f"{param.name}_{kind}")
        self.slots.append(variable)
        return variable

    def state(self) -> dict[str, np.ndarray]:
        """The optimiser's state by name: every slot and ``steps_done``."""
        return {v.name: v.get_value() for v in [*self.slots, self.steps_done]}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what ``state()`` returned (the slots must exist: compile the step first)."""
        variables = {v.name: v for v in [*self.slots, self.steps_done]}
        if set(state) != set(variables):
            raise ValueError(f"optimizer state holds {sorted(state)}, but this optimizer has {sorted(variables)}")
        for name, value in state.items():
            variables[name].set_value(value)

    def learning_rate(self) -> TensorVariable:
        """The scheduled learning rate of the step being taken."""
        h = self.hyper
        progress = self.steps_done / h["steps_per_epoch"]
        factor = lr_factor(self.spec.schedule, progress, h["total_epochs"], h["step_epochs"], h["gamma"])
        warmup = warmup_factor(self.steps_done, h["steps_per_epoch"], h["warmup_epochs"])
        return h["lr"] * factor * warmup * self.lr_scale

    def updates(
        self, params: Sequence[SharedVariable], grads: Sequence[TensorVariable]
    ) -> tuple[Updates, TensorVariable]:
        """Return the update pairs for one step and the learning rate that step uses."""
        h = self.hyper
        grads = clip_by_global_norm(grads, h["clip_norm"])
        if self.spec.name != "adamw":
            grads = [g + h["weight_decay"] * p for p, g in zip(params, grads, strict=True)]
        lr = self.learning_rate()
        t = self.steps_done + 1
        updates = RULES[self.spec.name](self, params, grads, lr, t)
        return updates + [(self.steps_done, t)], lr


def clip_by_global_norm(grads: Sequence[TensorVariable], clip_norm) -> list[TensorVariable]:
    """Scale all gradients by ``clip_norm / norm`` when their joint L2 norm exceeds it (0 = off)."""
    norm = pt.sqrt(sum((g**2).sum() for g in grads))
    scale = pt.switch(pt.and_(clip_norm > 0, norm > clip_norm), clip_norm / norm, 1)
    return [g * scale for g in grads]


def sgd(opt: Optimizer, params, grads, lr, t) -> Updates:
    """SGD with momentum (PyTorch's form): ``v ← μv + g``; ``p ← p − lr·v``, or with Nesterov
    ``p ← p − lr·(g + μv)``. ``momentum = 0`` is plain SGD."""
    mu = opt.hyper["momentum"]
    updates = []
    for p, g in zip(params, grads, strict=True):
        v = opt.slot(p, "velocity")
        v_new = mu * v + g
        step = g + mu * v_new if opt.spec.nesterov else v_new
        updates += [(v, v_new), (p, p - lr * step)]
    return updates


def adagrad(opt: Optimizer, params, grads, lr, t) -> Updates:
    """``G ← G + g²``; ``p ← p − lr·g / (√G + ε)``."""
    eps = opt.hyper["eps"]
    updates = []
    for p, g in zip(params, grads, strict=True):
        acc = opt.slot(p, "sum_sq")
        acc_new = acc + g**2
        updates += [(acc, acc_new), (p, p - lr * g / (pt.sqrt(acc_new) + eps))]
    return updates


def rmsprop(opt: Optimizer, params, grads, lr, t) -> Updates:
    """``s ← ρs + (1−ρ)g²``; ``p ← p − lr·g / (√s + ε)``."""
    rho, eps = opt.hyper["rho"], opt.hyper["eps"]
    updates = []
    for p, g in zip(params, grads, strict=True):
        s = opt.slot(p, "mean_sq")
        s_new = rho * s + (1 - rho) * g**2
        updates += [(s, s_new), (p, p - lr * g / (pt.sqrt(s_new) + eps))]
    return updates


def adadelta(opt: Optimizer, params, grads, lr, t) -> Updates:
    """Zeiler 2012: ``E[g²] ← ρE[g²] + (1−ρ)g²``; ``Δ = √(E[Δ²]+ε)/√(E[g²]+ε)·g``;
    ``E[Δ²] ← ρE[Δ²] + (1−ρ)Δ²``; ``p ← p − lr·Δ``."""
    rho, eps = opt.hyper["rho"], opt.hyper["eps"]
    updates = []
    for p, g in zip(params, grads, strict=True):
        eg, ed = opt.slot(p, "mean_sq_grad"), opt.slot(p, "mean_sq_delta")
        eg_new = rho * eg + (1 - rho) * g**2
        delta = pt.sqrt(ed + eps) / pt.sqrt(eg_new + eps) * g
        updates += [(eg, eg_new), (ed, rho * ed + (1 - rho) * delta**2), (p, p - lr * delta)]
    return updates


def adam(opt: Optimizer, params, grads, lr, t) -> Updates:
    """Kingma & Ba: bias-corrected moments, ``p ← p − lr·m̂ / (√v̂ + ε)``; for ``adamw`` also
    the decoupled decay ``− lr·weight_decay·p`` (Loshchilov & Hutter)."""
    b1, b2, eps = opt.hyper["beta1"], opt.hyper["beta2"], opt.hyper["eps"]
    decay = opt.hyper["weight_decay"] if opt.spec.name == "adamw" else 0
    updates = []
    for p, g in zip(params, grads, strict=True):
        m, v = opt.slot(p, "m"), opt.slot(p, "v")
        m_new = b1 * m + (1 - b1) * g
        v_new = b2 * v + (1 - b2) * g**2
        m_hat, v_hat = m_new / (1 - b1**t), v_new / (1 - b2**t)
        step = m_hat / (pt.sqrt(v_hat) + eps) + decay * p
        updates += [(m, m_new), (v, v_new), (p, p - lr * step)]
    return updates


RULES: dict[str, Callable[..., Updates]] = {
    "sgd": sgd,
    "adagrad": adagrad,
    "rmsprop": rmsprop,
    "adadelta": adadelta,
    "adam": adam,
    "adamw": adam,
}

"""Learning-rate schedules as PyTensor expressions of the optimiser's step counter.

``progress`` is the number of epochs completed before the current step (fractional), so the
first step uses the base learning rate; all settings are shared variables.
"""

import numpy as np
import pytensor.tensor as pt

# plateau: constant in the graph; the trainer lowers the rate when its monitor stops improving
# (``seqlab.experiments.training.progress.Progress.reduce_on_plateau``), through ``Optimizer.lr_scale``.
SCHEDULES = ("constant", "step", "cosine", "plateau")


def lr_factor(name: str, progress, total_epochs, step_epochs, gamma) -> pt.TensorVariable:
    """Multiplier of the base learning rate after ``progress`` epochs.

    constant: 1; step: ``gamma ** floor(progress / step_epochs)``; cosine:
    ``(1 + cos(pi * min(progress / total_epochs, 1))) / 2``.
    """
    if name in ("constant", "plateau"):
        factor = pt.ones_like(progress)
    elif name == "step":
        factor = gamma ** pt.floor(progress / step_epochs)
    elif name == "cosine":
        pi = pt.constant(np.pi, dtype=progress.dtype)  # not rounded to floatX
        factor = 0.5 * (1 + pt.cos(pi * pt.minimum(progress / total_epochs, 1)))
    else:
        raise ValueError(f"unknown schedule {name!r}; known: {SCHEDULES}")
    return factor


def warmup_factor(steps_done, steps_per_epoch, warmup_epochs) -> pt.TensorVariable:
    """``min(1, (steps_done + 1) / (warmup_epochs * steps_per_epoch))``; 1 without warm-up."""
    warmup_steps = warmup_epochs * steps_per_epoch
    return pt.switch(warmup_steps > 0, pt.minimum(1, (steps_done + 1) / warmup_steps), 1)

"""Noisy sine waves classified by frequency: a real-valued time-series task."""

import numpy as np

from src.data.dataset import SequenceDataset, Task


def sines_task(
    num_sequences: int, seed: int, length: int, num_classes: int, noise_std: float
) -> Task:
    """Sine waves (num_sequences, length, 1) with a random phase plus Gaussian noise.

    Class k has frequency ``(k + 1) / length * 2`` cycles per step (k = 0 … num_classes − 1),
    classes drawn uniformly.
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, size=num_sequences).astype(np.int32)
    phase = rng.uniform(0, 2 * np.pi, size=(num_sequences, 1))
    cycles_per_step = 2.0 * (labels[:, None] + 1) / length
    steps = np.arange(length)[None, :]
    waves = np.sin(2 * np.pi * cycles_per_step * steps + phase)
    waves += rng.normal(0, noise_std, size=waves.shape)
    dataset = SequenceDataset(waves[:, :, None], np.ones((num_sequences, length)), labels)
    return Task(dataset, num_classes=num_classes)

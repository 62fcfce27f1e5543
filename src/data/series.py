"""Synthetic time series: sines by frequency, waves by shape, and the six control-chart patterns.

All return values (num_series, length, channels); multivariate series repeat the class's
pattern in every channel with independent phase, parameters and noise.
"""

import numpy as np

from seqlab.data.dataset import SequenceDataset, Task

SHAPES = ("sine", "square", "sawtooth", "chirp")
CONTROL_PATTERNS = (
    "normal",
    "cyclic",
    "increasing_trend",
    "decreasing_trend",
    "upward_shift",
    "downward_shift",
)


def _task(values: np.ndarray, labels: np.ndarray, names: tuple[str, ...]) -> Task:
    num_series, length = values.shape[:2]
    dataset = SequenceDataset(values, np.ones((num_series, length)), labels.astype(np.int32))
    return Task(dataset, label_names=names)


def sines_task(num_sequences: int, seed: int, length: int, num_classes: int, noise_std: float) -> Task:
    """Univariate sine waves with a random phase plus Gaussian noise; class k makes
    ``2 (k + 1)`` cycles over the series."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, size=num_sequences)
    phase = rng.uniform(0, 2 * np.pi, size=(num_sequences, 1))
    steps = np.arange(length)[None, :] / length
    waves = np.sin(2 * np.pi * 2 * (labels[:, None] + 1) * steps + phase)
    waves += rng.normal(0, noise_std, size=waves.shape)
    names = tuple(f"{2 * (k + 1)}_cycles" for k in range(num_classes))
    return _task(waves[:, :, None], labels, names)


def shapes_task(num_sequences: int, seed: int, length: int, channels: int, noise_std: float) -> Task:
    """Sine, square, sawtooth or chirp waves (the class) of random frequency (2-5 cycles)
    and phase, plus Gaussian noise."""
    from scipy import signal  # imported here: it is slow to import, and most runs never need it

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(SHAPES), size=num_sequences)
    t = np.arange(length) / length
    values = np.empty((num_sequences, length, channels))
    for i, label in enumerate(labels):
        for c in range(channels):
            cycles, phase = rng.uniform(2, 5), rng.uniform(0, 2 * np.pi)
            x = 2 * np.pi * cycles * t + phase
            shape = SHAPES[label]
            if shape == "sine":
                wave = np.sin(x)
            elif shape == "square":
                wave = signal.square(x)
            elif shape == "sawtooth":
                wave = signal.sawtooth(x)
            else:
                wave = signal.chirp(t, f0=1, f1=3 * cycles, t1=1, phi=np.degrees(phase))
            values[i, :, c] = wave + rng.normal(0, noise_std, size=length)
    return _task(values, labels, SHAPES)


def control_chart_task(num_sequences: int, seed: int, length: int, channels: int, noise_std: float) -> Task:
    """The six patterns of the UCR Synthetic Control set (Alcock & Manolopoulos 1999):
    ``y(t) = 30 + noise_std * r(t) + pattern(t)`` with r ~ N(0, 1) and, per pattern, cyclic
    ``a sin(2 pi t / T)`` (a in [10, 15], T in [10, 15]), trends ``±g t`` (g in [0.2, 0.5]),
    shifts ``±k`` from a random step on (k in [7.5, 20])."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(CONTROL_PATTERNS), size=num_sequences)
    t = np.arange(length)
    values = np.empty((num_sequences, length, channels))
    for i, label in enumerate(labels):
        for c in range(channels):
            pattern = CONTROL_PATTERNS[label]
            y = 30 + noise_std * rng.standard_normal(length)
            if pattern == "cyclic":
                y += rng.uniform(10, 15) * np.sin(2 * np.pi * t / rng.uniform(10, 15))
            elif pattern.endswith("trend"):
                y += (1 if pattern.startswith("increasing") else -1) * rng.uniform(0.2, 0.5) * t
            elif pattern.endswith("shift"):
                start = rng.integers(length // 3, 2 * length // 3)
                y += (1 if pattern.startswith("upward") else -1) * rng.uniform(7.5, 20) * (t >= start)
            values[i, :, c] = y
    return _task(values, labels, CONTROL_PATTERNS)

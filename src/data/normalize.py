"""Normalising real-valued series: per series, or per dataset with statistics of the training split."""

import numpy as np

from src.data.assemble import SPLITS, RawSplit

NORMALIZATIONS = ("none", "series", "dataset")


def _zscore(values: np.ndarray, mean, std) -> np.ndarray:
    return (values - mean) / np.where(std > 0, std, 1.0)


def normalize_splits(raw: dict[str, RawSplit], mode: str) -> dict[str, RawSplit]:
    """Z-score every channel: 'series' with each series' own mean and std, 'dataset' with the
    mean and std of all training steps (applied to every split), 'none' leaves values as read.
    Sequences are (length, channels) arrays."""
    if mode == "none":
        return raw
    if mode == "series":
        change = lambda s: _zscore(s, s.mean(axis=0), s.std(axis=0))  # noqa: E731
    elif mode == "dataset":
        steps = np.concatenate(list(raw["train"].sequences))
        mean, std = steps.mean(axis=0), steps.std(axis=0)
        change = lambda s: _zscore(s, mean, std)  # noqa: E731
    else:
        raise ValueError(f"unknown normalisation {mode!r}; known: {NORMALIZATIONS}")
    return {
        name: RawSplit([change(s) for s in raw[name].sequences], raw[name].labels, raw[name].path, raw[name].lines)
        for name in SPLITS
    }

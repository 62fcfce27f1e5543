"""Normalising real-valued series: per series, or per dataset with statistics of the training split."""

from dataclasses import dataclass

import numpy as np

from seqlab.data.raw import SPLITS, RawSplit

NORMALIZATIONS = ("none", "series", "dataset")


@dataclass(frozen=True)
class Normalizer:
    """A fitted z-scoring of (length, channels) series: ``mode`` 'series' uses each series' own
    mean and std; 'dataset' uses ``mean`` and ``std`` (one per channel) of the training split."""

    mode: str
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()

    @classmethod
    def fit(cls, mode: str, train: list[np.ndarray]) -> "Normalizer":
        """Fit ``mode`` on the training series."""
        if mode not in NORMALIZATIONS:
            raise ValueError(f"unknown normalisation {mode!r}; known: {NORMALIZATIONS}")
        if mode != "dataset":
            return cls(mode)
        steps = np.concatenate(train)
        return cls(mode, tuple(steps.mean(axis=0).tolist()), tuple(steps.std(axis=0).tolist()))

    def __call__(self, series: np.ndarray) -> np.ndarray:
        """The normalised copy of one (length, channels) series."""
        if self.mode == "none":
            return series
        if self.mode == "series":
            mean, std = series.mean(axis=0), series.std(axis=0)
        else:
            mean, std = np.array(self.mean), np.array(self.std)
        return (series - mean) / np.where(std > 0, std, 1.0)


def normalize_splits(raw: dict[str, RawSplit], mode: str) -> tuple[dict[str, RawSplit], Normalizer]:
    """Fit normalisation ``mode`` on the training split and apply it to every split; return the
    normalised splits and the fitted normaliser (predict applies it to new series)."""
    normalizer = Normalizer.fit(mode, list(raw["train"].sequences))
    return {
        name: RawSplit([normalizer(s) for s in raw[name].sequences], raw[name].labels, raw[name].path, raw[name].lines)
        for name in SPLITS
    }, normalizer

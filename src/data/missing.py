"""Missing values in real-valued series (``data.missing``): refuse them, drop the series that
have them, or fill them in.

A missing value is a NaN: ``?`` or ``NaN`` in a ``.ts`` file, ``NaN`` or an empty cell inside a
UCR ``.tsv`` row (trailing ones there are the padding of a shorter series, not missing). An
infinite value is never missing: it is refused where the file has it (``seqlab.data.raw.check_finite``).
"""

import logging

import numpy as np

from seqlab.data.errors import DataError
from seqlab.data.raw import RawSplit

log = logging.getLogger(__name__)

# refuse: a clear error naming the first one | drop: leave out every series with one (in every
# split, the test split included, and say how many) | fill: linear interpolation along time in
# each channel, the nearest value before the first and after the last observed one.
MISSING_POLICIES = ("refuse", "drop", "fill")


def _filled(sequence: np.ndarray, path: str, line: int) -> np.ndarray:
    """``sequence`` (length, channels) with each channel's NaN interpolated linearly."""
    filled = sequence.copy()
    steps = np.arange(len(sequence))
    for channel in range(sequence.shape[1]):
        observed = ~np.isnan(sequence[:, channel])
        if not observed.any():
            raise DataError(path, f"channel {channel + 1} has no values at all: nothing to fill from", line)
        filled[:, channel] = np.interp(steps, steps[observed], sequence[observed, channel])
    return filled


def handle_missing(raw: RawSplit, policy: str) -> RawSplit:
    """``raw`` (sequences (length, channels)) with its NaN handled by ``policy`` (one of
    ``MISSING_POLICIES``). Raises DataError naming file, line, step and channel of the first
    NaN under ``refuse``, and of a channel with no value under ``fill``."""
    missing = [i for i, sequence in enumerate(raw.sequences) if np.isnan(sequence).any()]
    if not missing:
        return raw
    if policy == "refuse":
        first = missing[0]
        step, channel = np.argwhere(np.isnan(raw.sequences[first]))[0]
        raise DataError(
            raw.path,
            f"missing value (NaN) at step {step + 1}, channel {channel + 1} ({len(missing)} series have one); "
            "set data.missing=drop to leave such series out or data.missing=fill to interpolate them",
            raw.lines[first],
        )
    if policy == "drop":
        log.warning(
            "data.missing=drop: %d of %d series of %s have missing values and are left out",
            len(missing),
            len(raw.labels),
            raw.path,
        )
        return raw.take(np.setdiff1d(np.arange(len(raw.labels)), missing))
    sequences = list(raw.sequences)
    for i in missing:
        sequences[i] = _filled(sequences[i], raw.path, raw.lines[i])
    log.info("data.missing=fill: interpolated the missing values of %d series of %s", len(missing), raw.path)
    return RawSplit(sequences, raw.labels, raw.path, raw.lines)

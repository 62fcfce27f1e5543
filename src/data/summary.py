"""A summary of a task's data for the run record: sizes, class balance, lengths, content hash."""

import hashlib

import numpy as np

from seqlab.data.dataset import DataSplits
from seqlab.data.raw import SPLITS


def content_hash(splits: DataSplits) -> str:
    """SHA-256 (first 16 hex digits) of every split's inputs, mask and labels, in order."""
    digest = hashlib.sha256()
    for name in SPLITS:
        part = splits.split(name)
        for array in (part.inputs, part.mask, part.labels):
            digest.update(str((array.dtype, array.shape)).encode())
            digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def summarize(splits: DataSplits) -> dict:
    """Sizes, class counts and balance (share of each label), length statistics of each split, the
    input kind and the content hash."""
    summary = {
        "hash": content_hash(splits),
        "input_kind": splits.input_kind,
        "inputs": "tokens" if splits.vocab_size else f"{splits.num_features} features",
        "vocab_size": splits.vocab_size,
        "num_classes": splits.num_classes,
    }
    for name in SPLITS:
        part = splits.split(name)
        if len(part) == 0:  # no validation split
            summary[name] = {"size": 0}
            continue
        lengths = part.mask.sum(axis=1)
        counts = np.bincount(part.labels, minlength=splits.num_classes)
        summary[name] = {
            "size": len(part),
            "class_counts": {label: int(c) for label, c in zip(splits.label_names, counts, strict=True)},
            "class_balance": {
                label: round(float(c / len(part)), 4) for label, c in zip(splits.label_names, counts, strict=True)
            },
            "length_min": int(lengths.min()),
            "length_mean": round(float(lengths.mean()), 2),
            "length_max": int(lengths.max()),
        }
    return summary

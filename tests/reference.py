"""A plain NumPy Elman RNN (min-char-rnn style): the reference the PyTensor graph is tested against."""

import numpy as np


def elman_logits_numpy(params: dict[str, np.ndarray], inputs: np.ndarray, mask: np.ndarray):
    """Logits (batch, classes) for inputs (batch, time, features) and mask (batch, time)."""
    h = np.zeros((inputs.shape[0], params["Whh"].shape[0]))
    for t in range(inputs.shape[1]):
        h_new = np.tanh(inputs[:, t] @ params["Wxh"] + h @ params["Whh"] + params["bh"])
        m = mask[:, t, None]
        h = m * h_new + (1 - m) * h
    return h @ params["Why"] + params["by"]


def log_softmax_numpy(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax of (batch, classes)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))

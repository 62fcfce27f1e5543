"""Plain NumPy versions of the network and optimisers (min-char-rnn style), over each cell's
``reference_step``: the references the PyTensor graphs are tested against. Written for clarity,
one step at a time."""

import numpy as np

from seqlab.models.cells import get_cell


def run_direction(spec, params, name, x, mask, backwards):
    """Outputs (batch, time, hidden) and the state after the last real step."""
    batch, time, _ = x.shape
    hidden = spec.hidden_size
    cell = get_cell(spec.cell)
    states = [np.zeros((batch, hidden))] * cell.num_states
    outputs = np.zeros((batch, time, hidden))
    W, U, b = params[f"{name}_W"], params[f"{name}_U"], params[f"{name}_b"]
    for t in reversed(range(time)) if backwards else range(time):
        new = cell.reference_step(x[:, t], *states, W, U, b, spec.cell_options)
        m = mask[:, t, None]
        states = [m * s_new + (1 - m) * s for s_new, s in zip(new, states, strict=True)]
        outputs[:, t] = states[0]
    return outputs, states[0]


def conv1d_numpy(x, mask, W, b, kernel, stride, dilation=1):
    """A 'same' convolution, one output step and one offset at a time: outputs (batch, steps,
    filters), zero on padded steps, and their mask (the input step at each centre)."""
    batch, time, channels = x.shape
    steps = -(-time // stride)
    out = np.zeros((batch, steps, W.shape[1]))
    for t in range(steps):
        for j in range(kernel):
            s = t * stride + dilation * (j - (kernel - 1) // 2)
            if 0 <= s < time:
                out[:, t] += (x[:, s] * mask[:, s, None]) @ W[j * channels : (j + 1) * channels]
    out_mask = mask[:, ::stride][:, :steps]
    return (out + b) * out_mask[:, :, None], out_mask


def batch_norm_numpy(y, mask, gamma, beta, mean, var, eps=1e-5):
    """Batch normalisation with the given statistics, zero on padded steps."""
    return ((y - mean) / np.sqrt(var + eps) * gamma + beta) * mask[:, :, None]


def network_logits_numpy(spec, params, inputs, mask):
    """Logits (batch, classes) for inputs (batch, time, features) or tokens (batch, time)."""
    x = params["embedding"][inputs] if spec.vocab_size is not None else inputs
    branch = None
    if spec.conv_filters:
        h, h_mask = x, mask
        blocks = zip(spec.conv_kernels, spec.conv_strides, spec.conv_dilations, strict=True)
        for i, (kernel, stride, dilation) in enumerate(blocks):
            y, out_mask = conv1d_numpy(h, h_mask, params[f"conv{i}_W"], params[f"conv{i}_b"], kernel, stride, dilation)
            stats = [params[f"conv{i}_{name}"] for name in ("gamma", "beta", "mean", "var")]
            y = batch_norm_numpy(y, out_mask, *stats)
            if spec.conv_residual:
                shortcut = h[:, ::stride] * out_mask[:, :, None]
                y = y + (shortcut @ params[f"conv{i}_skip"] if f"conv{i}_skip" in params else shortcut)
            h, h_mask = np.maximum(y, 0), out_mask
        if spec.conv_layout == "frontend":
            x, mask = h, h_mask
        else:
            branch = h.sum(axis=1) / h_mask.sum(axis=1)[:, None]
    for layer in range(spec.num_layers):
        runs = [
            run_direction(spec, params, f"rnn{layer}_{d}", x, mask, backwards=(d == "bwd")) for d in spec.directions
        ]
        x = np.concatenate([outputs for outputs, _ in runs], axis=2)
        last = np.concatenate([final for _, final in runs], axis=1)
    m = mask[:, :, None]
    if spec.pooling == "last":
        pooled = last
    elif spec.pooling == "mean":
        pooled = (x * m).sum(axis=1) / m.sum(axis=1)
    elif spec.pooling == "max":
        pooled = np.where(m > 0, x, -np.inf).max(axis=1)
    else:  # additive attention, one sequence at a time over its real steps
        pooled = np.zeros((x.shape[0], x.shape[2]))
        for i, length in enumerate(mask.sum(axis=1).astype(int)):
            h = x[i, :length]
            scores = np.tanh(h @ params["att_W"] + params["att_b"]) @ params["att_v"]
            weights = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
            pooled[i] = weights @ h
    if branch is not None:
        pooled = np.concatenate([pooled, branch], axis=1)
    return pooled @ params["out_W"] + params["out_b"]


def log_softmax_numpy(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax of (batch, classes)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


class NumpyOptimizer:
    """The update rules of ``src/models/optimizers.py``, one parameter array at a time."""

    def __init__(self, name, hp, nesterov=False, schedule="constant"):
        self.name, self.hp, self.nesterov, self.schedule = name, hp, nesterov, schedule
        self.state = {}
        self.steps_done = 0

    def learning_rate(self):
        hp = self.hp
        progress = self.steps_done / hp["steps_per_epoch"]
        if self.schedule == "step":
            factor = hp["gamma"] ** np.floor(progress / hp["step_epochs"])
        elif self.schedule == "cosine":
            factor = 0.5 * (1 + np.cos(np.pi * min(progress / hp["total_epochs"], 1)))
        else:
            factor = 1.0
        warmup_steps = hp["warmup_epochs"] * hp["steps_per_epoch"]
        if warmup_steps > 0:
            factor *= min(1.0, (self.steps_done + 1) / warmup_steps)
        return hp["lr"] * factor

    def step(self, params: dict, grads: dict) -> dict:
        hp = self.hp
        norm = np.sqrt(sum((g**2).sum() for g in grads.values()))
        if hp["clip_norm"] > 0 and norm > hp["clip_norm"]:
            grads = {k: g * hp["clip_norm"] / norm for k, g in grads.items()}
        if self.name != "adamw":
            grads = {k: g + hp["weight_decay"] * params[k] for k, g in grads.items()}
        lr = self.learning_rate()
        t = self.steps_done + 1
        new = {}
        for k, p in params.items():
            g = grads[k]
            s = self.state.setdefault(k, {})
            if self.name == "sgd":
                s["v"] = hp["momentum"] * s.get("v", 0) + g
                new[k] = p - lr * (g + hp["momentum"] * s["v"] if self.nesterov else s["v"])
            elif self.name == "adagrad":
                s["G"] = s.get("G", 0) + g**2
                new[k] = p - lr * g / (np.sqrt(s["G"]) + hp["eps"])
            elif self.name == "rmsprop":
                s["s"] = hp["rho"] * s.get("s", 0) + (1 - hp["rho"]) * g**2
                new[k] = p - lr * g / (np.sqrt(s["s"]) + hp["eps"])
            elif self.name == "adadelta":
                s["eg"] = hp["rho"] * s.get("eg", 0) + (1 - hp["rho"]) * g**2
                delta = np.sqrt(s.get("ed", 0) + hp["eps"]) / np.sqrt(s["eg"] + hp["eps"]) * g
                s["ed"] = hp["rho"] * s.get("ed", 0) + (1 - hp["rho"]) * delta**2
                new[k] = p - lr * delta
            else:  # adam, adamw
                s["m"] = hp["beta1"] * s.get("m", 0) + (1 - hp["beta1"]) * g
                s["v"] = hp["beta2"] * s.get("v", 0) + (1 - hp["beta2"]) * g**2
                m_hat = s["m"] / (1 - hp["beta1"] ** t)
                v_hat = s["v"] / (1 - hp["beta2"] ** t)
                decay = hp["weight_decay"] * p if self.name == "adamw" else 0
                new[k] = p - lr * (m_hat / (np.sqrt(v_hat) + hp["eps"]) + decay)
        self.steps_done += 1
        return new

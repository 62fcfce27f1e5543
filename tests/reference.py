"""Plain NumPy versions of the network and optimisers (min-char-rnn style), over each cell's
``reference_step``: the references the PyTensor graphs are tested against. Written for clarity,
one step at a time."""

import numpy as np

from seqlab.models.blocks.head import relu
from seqlab.models.cells import get_cell


def run_direction(stack, params, name, x, mask, backwards):
    """Outputs (batch, time, hidden) of one direction of a ``RecurrentStack``'s layer."""
    batch, time, _ = x.shape
    cell = get_cell(stack.cell)
    states = [np.zeros((batch, stack.hidden_size))] * cell.num_states
    outputs = np.zeros((batch, time, stack.hidden_size))
    W, U, b = params[f"{name}_W"], params[f"{name}_U"], params[f"{name}_b"]
    for t in reversed(range(time)) if backwards else range(time):
        new = cell.reference_step(x[:, t], *states, W, U, b, stack.cell_options)
        m = mask[:, t, None]
        states = [m * s_new + (1 - m) * s for s_new, s in zip(new, states, strict=True)]
        outputs[:, t] = states[0]
    return outputs


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


def wide_conv1d_numpy(x, mask, W, b, width):
    """A wide convolution, one output step and one offset at a time: output step ``t`` in
    ``0 .. time + width - 2`` sums ``x[t - width + 1 + j] W_j`` over the real steps in its
    window; outputs (batch, time + width - 1, filters), zero where no real step is in the
    window, and that mask."""
    batch, time, channels = x.shape
    steps = time + width - 1
    out, out_mask = np.zeros((batch, steps, W.shape[1])), np.zeros((batch, steps))
    for t in range(steps):
        for j in range(width):
            s = t - width + 1 + j
            if 0 <= s < time:
                out[:, t] += (x[:, s] * mask[:, s, None]) @ W[j * channels : (j + 1) * channels]
                out_mask[:, t] = np.maximum(out_mask[:, t], mask[:, s])
    return (out + b) * out_mask[:, :, None], out_mask


BIGRAM_PRIME = 116049371  # seqlab.models.encoders.bag's


def batch_norm_numpy(y, mask, gamma, beta, mean, var, eps=1e-5):
    """Batch normalisation with the given statistics, zero on padded steps."""
    return ((y - mean) / np.sqrt(var + eps) * gamma + beta) * mask[:, :, None]


def conv_norm_numpy(params, i, x, mask, kernel, stride=1, dilation=1):
    """Convolution ``i`` and batch normalisation with its running statistics."""
    y, out_mask = conv1d_numpy(x, mask, params[f"{i}_W"], params[f"{i}_b"], kernel, stride, dilation)
    stats = [params[f"{i}_{name}"] for name in ("gamma", "beta", "mean", "var")]
    return batch_norm_numpy(y, out_mask, *stats), out_mask


def owned(params, prefix):
    return {name[len(prefix) :]: value for name, value in params.items() if name.startswith(prefix)}


def block_numpy(block, params, x, mask):
    """One block of ``seqlab.models.blocks`` (or an encoder's) in NumPy, for evaluation (no
    dropout, batch norm's running statistics): outputs and mask as the block's ``apply``."""
    kind = type(block).__name__
    if kind == "Sequential":
        for child in block.blocks:
            x, mask = block_numpy(child, owned(params, child.prefix), x, mask)
        return x, mask
    if kind == "Parallel":
        summaries = [block_numpy(child, owned(params, child.prefix), x, mask)[0] for child in block.blocks]
        return np.concatenate(summaries, axis=1), None
    if kind == "Drop":
        return x, mask
    if kind == "Embedding":
        return params[""][x], mask
    if kind == "NgramEmbedding":
        vectors = params[""][x].copy()
        if block.buckets:
            for i in range(x.shape[0]):
                for t in range(1, int(mask[i].sum())):  # a bigram ends at each real step after the first
                    bucket = (int(x[i, t - 1]) * BIGRAM_PRIME + int(x[i, t])) % block.buckets
                    vectors[i, t] += params["_bigrams"][bucket]
        return vectors, mask
    if kind == "WideConv":
        y, out_mask = wide_conv1d_numpy(x, mask, params["W"], params["b"], block.width)
        return np.maximum(y, 0), out_mask
    if kind == "ConvStack":
        o = block.options
        blocks = zip(o.kernels, o.per_block("strides"), o.per_block("dilations"), strict=True)
        for i, (kernel, stride, dilation) in enumerate(blocks):
            y, out_mask = conv_norm_numpy(params, i, x, mask, kernel, stride, dilation)
            if o.residual:
                shortcut = x[:, ::stride] * out_mask[:, :, None]
                y = y + (shortcut @ params[f"{i}_skip"] if f"{i}_skip" in params else shortcut)
            x, mask = np.maximum(y, 0), out_mask
        return x, mask
    if kind == "ResidualBlock":
        convs, y = owned(params, "conv"), x
        for j, kernel in enumerate(block.kernels):
            y, _ = conv_norm_numpy(convs, j, y, mask, kernel)
            if j < len(block.kernels) - 1:
                y = np.maximum(y, 0)
        shortcut = x @ params["skip"] if "skip" in params else x
        return np.maximum(y + shortcut * mask[:, :, None], 0), mask
    if kind == "RecurrentStack":
        for layer in range(block.num_layers):
            runs = [
                run_direction(block, params, f"{layer}_{d}", x, mask, backwards=(d == "bwd")) for d in block.directions
            ]
            x = np.concatenate(runs, axis=2)
        return x, mask
    if kind == "Pooling":
        m = mask[:, :, None]
        if block.kind == "last":  # forward: the state after the last step; backward: after the first
            hidden = x.shape[2] // 2
            return (np.concatenate([x[:, -1, :hidden], x[:, 0, hidden:]], 1) if block.bidirectional else x[:, -1]), None
        if block.kind == "mean":
            return (x * m).sum(axis=1) / m.sum(axis=1), None
        if block.kind == "max":
            return np.where(m > 0, x, -np.inf).max(axis=1), None
        pooled = np.zeros((x.shape[0], x.shape[2]))  # additive attention, one sequence at a time
        for i, length in enumerate(mask.sum(axis=1).astype(int)):
            h = x[i, :length]
            scores = np.tanh(h @ params["W"] + params["b"]) @ params["v"]
            weights = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
            pooled[i] = weights @ h
        return pooled, None
    if kind == "Linear":
        y = x @ params["W"] + params["b"]
        assert block.activation in (None, relu), f"no NumPy reference for the activation {block.activation}"
        return (y if block.activation is None else np.maximum(y, 0)), mask
    raise NotImplementedError(f"no NumPy reference for the block {kind}")


def network_logits_numpy(spec, params, inputs, mask):
    """Logits (batch, classes) for inputs (batch, time, features) or tokens (batch, time)."""
    return block_numpy(spec.blocks, params, inputs, mask)[0]


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

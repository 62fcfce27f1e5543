"""LSTM-FCN's dimension shuffle (Karim et al. 2018): a series read with its axes swapped, so
that a recurrent layer takes each channel as one step whose features are the channel's values
at every time step (``model.dimension_shuffle``): the ``DimensionShuffle`` block."""

from dataclasses import dataclass

import pytensor.tensor as pt

from seqlab.models.blocks.base import Block


@dataclass
class DimensionShuffle(Block):
    """(batch, steps, channels) series as (batch, channels, steps): ``channels`` steps of
    ``steps`` features each, every one of them real (the mask (batch, channels) repeats each
    series' first step's, which is 1).

    steps: the series' length, which sizes the next block's inputs (a recurrent layer's input
    weights are (steps, gates * hidden)); every series must have exactly this many real steps
    (``seqlab.experiments.training.builders.model_inputs`` refuses data that do not).
    """

    steps: int

    def init(self, rng, in_features):
        return {}, self.steps

    def apply(self, params, x, mask, ctx):
        return x.dimshuffle(0, 2, 1), pt.repeat(mask[:, :1], x.shape[2], axis=1)

"""Sequence data as NumPy arrays with masks: generators, splits and minibatches."""

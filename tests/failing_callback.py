"""A Hydra callback whose sweep set-up fails, as an unreachable store would make it."""

from hydra.experimental.callback import Callback


class FailingSweepCallback(Callback):
    def on_multirun_start(self, config, **kwargs):
        raise RuntimeError("could not create the sweep's parent run")

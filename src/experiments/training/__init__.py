"""Training: turning a config into data and a model (``builders``), the run (``runner``), where
training stands with early stopping and the plateau rule (``progress``), per-epoch checkpoints
(``checkpoints``), sweeps as parent runs (``sweep``) and the figures a run logs (``plots``)."""

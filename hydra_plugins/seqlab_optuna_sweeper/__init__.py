"""seqlab's Optuna sweeper for Hydra (``hydra/sweeper=seqlab_optuna``, used by ``hparams_search=optuna``)."""

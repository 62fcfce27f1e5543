"""seqlab's study sweeper for Hydra (``hydra/sweeper=seqlab_study``, used by ``seqlab study``)."""

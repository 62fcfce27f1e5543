"""seqlab's Hydra configs, installed as the package data ``seqlab.conf`` (``pkg://seqlab.conf``)."""

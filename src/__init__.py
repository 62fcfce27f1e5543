"""seqlab: sequence-classification experiments with PyTensor, Hydra and MLflow.

From Python: ``seqlab.train``, ``seqlab.load``, ``seqlab.compare`` and ``seqlab.compose``
(``seqlab.api``, imported on first use: ``import seqlab`` itself stays light).
"""

API = ("train", "load", "compare", "compose", "Model", "TrainResult")


def __getattr__(name: str):
    if name in API:
        from seqlab import api

        return getattr(api, name)
    raise AttributeError(f"module 'seqlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *API])

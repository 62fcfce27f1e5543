"""The file MLflow runs to rebuild the pyfunc model when it is loaded ("models from code"), so
that loading a model unpickles no Python object."""

import mlflow

from seqlab.experiments.mlflow_model import SequenceClassifierModel

mlflow.models.set_model(SequenceClassifierModel())

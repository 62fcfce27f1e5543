"""The classifier as an MLflow pyfunc model: a DataFrame of raw texts or sequences in, labels out.

``mlflow.pyfunc.load_model(f"runs:/{run_id}/model").predict(df)`` reads the column ``text`` (runs
on text) or ``sequence`` (symbol lists such as ``["1", "0"]``, or series as lists of numbers or of
per-step feature lists) and returns ``prediction``, ``predicted_name`` and ``proba_<label>``.
The model carries the run's weights, config, label names, vocabulary and normaliser, and names
``seqlab`` (this version) as its pip requirement: it loads wherever seqlab is installed, and
compiles its functions into seqlab's persistent cache (``seqlab.paths.cache_dir``), so a second
load in a new process compiles nothing.
"""

from importlib.metadata import version
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types.schema import Array, ColSpec, Schema

from seqlab import engine
from seqlab.experiments.classify import RunClassifier
from seqlab.experiments.encoding import INPUT_COLUMNS
from seqlab.experiments.tracking.logged_runs import LoggedRun, read_logged_run
from seqlab.experiments.tracking.recorder import RunRecorder

MODEL_NAME = "model"
PREDICT_BATCH_SIZE = 500
_INPUT_TYPES = {"text": "string", "symbols": Array("string"), "series": Array("double")}


class SequenceClassifierModel(mlflow.pyfunc.PythonModel):
    """A logged run's classifier behind MLflow's pyfunc interface."""

    def load_context(self, context) -> None:
        """Set the engine up and read the run's model files from the model's ``run`` artifact folder."""
        engine.configure()
        self.classifier = RunClassifier(read_logged_run(Path(context.artifacts["run"])))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        """Classify each row's ``text`` or ``sequence``; return the predicted labels and probabilities."""
        column = INPUT_COLUMNS[self.classifier.run.input_kind]
        if column not in model_input.columns:
            raise ValueError(f"this model reads a {column!r} column; the input has {list(model_input.columns)}")
        return self.classifier.classify_raw(list(model_input[column]), PREDICT_BATCH_SIZE)


def signature(run: LoggedRun) -> ModelSignature:
    """Inputs: one ``text`` or ``sequence`` column; outputs: the prediction table's columns."""
    kind = run.input_kind
    multivariate = kind == "series" and run.input_features > 1
    input_type = Array(Array("double")) if multivariate else _INPUT_TYPES[kind]
    outputs = [ColSpec("long", "prediction"), ColSpec("string", "predicted_name")]
    outputs += [ColSpec("double", f"proba_{name}") for name in run.label_names]
    return ModelSignature(Schema([ColSpec(input_type, INPUT_COLUMNS[kind])]), Schema(outputs))


def log_model(run: RunRecorder, model_files: Path) -> None:
    """Log the classifier whose files (``tracking.MODEL_FILES``, as ``write_model_files`` wrote
    them) are in the local folder ``model_files`` as ``run``'s pyfunc model ``model``."""
    run.pyfunc_model(
        MODEL_NAME,
        python_model=str(Path(__file__).with_name("pyfunc_entry.py")),
        artifacts={"run": str(model_files)},
        signature=signature(read_logged_run(model_files)),
        pip_requirements=[f"seqlab=={version('seqlab')}"],
    )

"""The Python API as a notebook uses it: in a fresh interpreter, ``seqlab.train`` → ``load`` →
``predict`` → ``compare`` gives what the command gives with the same overrides, with the same
engine set-up (a real BLAS linked)."""

import json
import subprocess
import sys
import textwrap

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import run_cli

SMALL = ["trainer.epochs=3", "data.train_size=200", "data.val_size=100", "data.test_size=100", "trainer.progress=false"]
COMPARED = ("best_epoch", "best_val_loss", "test_loss", "test_accuracy", "test_macro_f1")

NOTEBOOK = """
import json, sys
import seqlab

overrides = json.loads(sys.argv[1])
cfg = seqlab.compose(overrides + ["model=gru"])  # composing alone: the schemas are registered
assert cfg.model.name == "gru" and "hydra" not in cfg
result = seqlab.train(overrides)
model = seqlab.load(result.run_id, [o for o in overrides if o.startswith("tracking.")])
sequences = [["1", "0", "1", "1"], ["0", "0"], ["1"]]
proba = model.predict_proba(sequences)
table = seqlab.compare("api", overrides=[o for o in overrides if o.startswith("tracking.uri")])

import pytensor
from seqlab import engine
print(json.dumps({
    "run_id": result.run_id,
    "metrics": result.metrics,
    "predicted": model.predict(sequences).tolist(),
    "proba_columns": list(proba.columns),
    "proba_sums": proba.sum(axis=1).tolist(),
    "compared_runs": table["run_id"].tolist(),
    "blas_ldflags": pytensor.config.blas__ldflags,
    "blas_libraries": engine.blas_libraries(),
}))
"""


@pytest.fixture(scope="module")
def api_and_cli_runs(store, store_overrides, tmp_path_factory) -> dict:
    overrides = store_overrides + SMALL + ["tracking.experiment_name=api"]
    folder = tmp_path_factory.mktemp("api")
    cli = run_cli("seqlab", "train", *overrides, f"hydra.run.dir={folder / 'cli'}")
    assert cli.returncode == 0, cli.stderr
    api = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(NOTEBOOK), json.dumps(overrides)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert api.returncode == 0, api.stderr
    client = MlflowClient(store["uri"])
    (cli_run,) = [
        r
        for r in client.search_runs([client.get_experiment_by_name("api").experiment_id])
        if r.info.run_id != json.loads(api.stdout.splitlines()[-1])["run_id"]
    ]
    return {"api": json.loads(api.stdout.splitlines()[-1]), "cli": cli_run, "client": client}


def test_the_api_trains_the_same_run_as_the_command(api_and_cli_runs):
    api, cli = api_and_cli_runs["api"], api_and_cli_runs["cli"]
    for name in COMPARED:
        assert api["metrics"][name] == cli.data.metrics[name], name
    api_run = api_and_cli_runs["client"].get_run(api["run_id"])
    assert api_run.data.params == cli.data.params, "the same params: config, data, environment"
    assert api_run.info.run_name == cli.info.run_name == "elman-h32-sgd-s0"


def test_the_api_loads_predicts_and_compares(api_and_cli_runs):
    api = api_and_cli_runs["api"]
    assert api["proba_columns"] == ["even", "odd"]
    assert api["predicted"] and set(api["predicted"]) <= {"even", "odd"}
    assert api["proba_sums"] == pytest.approx([1.0] * 3)
    assert sorted(api["compared_runs"]) == sorted([api["run_id"], api_and_cli_runs["cli"].info.run_id])


def test_the_api_sets_the_engine_up_as_the_command(api_and_cli_runs):
    api = api_and_cli_runs["api"]
    assert api["blas_ldflags"], "PyTensor links to a BLAS"
    if sys.platform == "linux" and "mkl" in api["blas_ldflags"]:
        assert "mkl" in api["blas_libraries"]
    cli_tags = api_and_cli_runs["cli"].data.tags
    api_tags = api_and_cli_runs["client"].get_run(api["run_id"]).data.tags
    assert api_tags["pytensor_blas_ldflags"] == cli_tags["pytensor_blas_ldflags"] == api["blas_ldflags"]

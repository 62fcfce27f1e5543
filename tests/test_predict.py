"""``seqlab predict input=<file>``: series, symbol and text files classified as the run's own
data was, a bad line named by file and line, and the CSV the command writes."""

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from seqlab.data.errors import DataError
from seqlab.experiments.classify import RunClassifier, predict_file, predict_split
from seqlab.experiments.tracking.logged_runs import load_run
from seqlab.experiments.tracking.store import use_tracking_store
from tests.conftest import run_cli


def use_store(store: dict) -> None:
    use_tracking_store(OmegaConf.create({"uri": store["uri"]}))


def test_a_series_archive_file_is_classified_as_the_runs_test_split(imbalanced_run):
    use_store(imbalanced_run["store"])
    run_id = imbalanced_run["metrics"]["run_id"]
    table = predict_file(run_id, imbalanced_run["data"]["data.test_path"], batch_size=64)
    expected = predict_split(run_id, "test", batch_size=64)
    assert table["line"].tolist() == list(range(1, len(expected) + 1))
    assert (table["label_name"] == table["predicted_name"]).mean() == imbalanced_run["metrics"]["test_accuracy"]
    np.testing.assert_allclose(table.filter(like="proba_"), expected.filter(like="proba_"), rtol=1e-6)


def test_a_csv_of_unlabelled_series_is_classified_and_a_bad_value_named_by_line(imbalanced_run, tmp_path):
    use_store(imbalanced_run["store"])
    run_id = imbalanced_run["metrics"]["run_id"]
    archive = pd.read_csv(imbalanced_run["data"]["data.test_path"], sep="\t", header=None)
    series = tmp_path / "new.csv"
    series.write_text("\n".join(",".join(f"{v:.17g}" for v in row) for row in archive.iloc[:5, 1:].to_numpy()) + "\n")
    table = predict_file(run_id, str(series), batch_size=64)
    expected = predict_split(run_id, "test", batch_size=64)[:5]
    assert "label_name" not in table and table["line"].tolist() == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(table.filter(like="proba_"), expected.filter(like="proba_"), rtol=1e-6)
    series.write_text("0.1, 0.2, 0.3\n\n0.4, oops, 0.5\n")
    with pytest.raises(DataError, match=r"new.csv:3: value 2: 'oops' is not a number"):
        predict_file(run_id, str(series), batch_size=64)


def test_a_file_of_symbol_sequences_is_classified_and_an_unknown_symbol_named_by_line(default_run, store, tmp_path):
    use_store(store)
    run_id = default_run["metrics"]["run_id"]
    sequences = [["1", "0", "1"], ["0", "0"], ["1", "1", "1", "0"]]
    path = tmp_path / "bits.tsv"
    path.write_text("\n".join("\t".join(s) for s in sequences) + "\n")
    table = predict_file(run_id, str(path), batch_size=8)
    expected = RunClassifier(load_run(run_id)).classify_raw(sequences, 8)
    assert table["predicted_name"].tolist() == expected["predicted_name"].tolist()
    assert table["line"].tolist() == [1, 2, 3]
    path.write_text("1\t0\n0\t2\t1\n")
    with pytest.raises(DataError, match=r"bits.tsv:2: sequence: unknown symbols \['2'\]"):
        predict_file(run_id, str(path), batch_size=8)


def test_predict_cli_classifies_a_file_into_a_csv(imbalanced_run, tmp_path):
    run_id, store = imbalanced_run["metrics"]["run_id"], imbalanced_run["store"]
    output = tmp_path / "predictions.csv"
    arguments = [f"run_id={run_id}", f"tracking.uri={store['uri']}", f"hydra.run.dir={tmp_path}"]
    result = run_cli(
        "seqlab",
        "predict",
        *arguments,
        f"input={imbalanced_run['data']['data.test_path']}",
        f"output={output}",
    )
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(output)
    assert list(table.columns[:4]) == ["sequence", "line", "label_name", "prediction"]
    accuracy = imbalanced_run["metrics"]["test_accuracy"]
    assert f"Imbalanced_TEST: accuracy={accuracy:.4f} on {len(table)} sequences" in result.stderr + result.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("0.5 1.5\n1 2 x\n")
    result = run_cli("seqlab", "predict", *arguments, f"input={bad}")
    assert result.returncode == 2
    assert f"{bad}:2: value 3: 'x' is not a number" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr

"""The benchmark's measurement processes: which BLAS kernels they run, and what they report.

Speed itself is never asserted in a test (``benchmarks/`` prints it); what is tested is that the
benchmark measures what a user's machine runs and says so.
"""

import os

import mlflow
import pytest

from benchmarks.epochs import seqlab_epochs
from benchmarks.train_step import KERNEL_VARIABLES, interleaved, serve


def _environment_probe(connection, impl: str) -> None:
    """A measurement process whose "step" returns the kernel variables it sees."""
    serve(connection, lambda: {name: os.environ.get(name) for name in KERNEL_VARIABLES}, ())


@pytest.mark.parametrize("native", [True, False])
def test_measurement_processes_run_without_the_kernel_variables_and_report_their_kernels(monkeypatch, native):
    # As on these machines: the environment pins NumPy's OpenBLAS to its Haswell kernels.
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.setenv("OPENBLAS_L2_SIZE", "512")
    rounds, reports = interleaved(_environment_probe, ["probe"], (), rounds=2, steps=1, native=native)
    seen, blas = reports["probe"]["first"], reports["probe"]["blas"]
    if native:
        assert seen == {"OPENBLAS_CORETYPE": None, "OPENBLAS_L2_SIZE": None}
        assert "openblas" in blas and "kernels" in blas, blas  # OpenBLAS's own choice, printed
    else:  # --environment-kernels
        assert seen == {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_L2_SIZE": "512"}
        assert "openblas" in blas and "Haswell kernels" in blas, blas
    assert os.environ["OPENBLAS_CORETYPE"] == "Haswell", "this process's own environment is restored"
    assert len(rounds["probe"]) == 2 and (rounds["probe"] > 0).all()
    assert reports["probe"]["peak_rss_mb"] > 0


@pytest.mark.slow
def test_epoch_benchmark_times_each_epoch_of_a_seqlab_run_from_its_log_and_reads_its_first_loss(
    tmp_path, store, default_run
):
    # The default experiment (compiled by default_run, whose cache the new process shares) for
    # three epochs: the benchmark times epochs 2 and 3 from the run's log lines, so a change of
    # their format, or of the line naming the run, fails here rather than in a silent benchmark.
    report = seqlab_epochs(["trainer.epochs=3", "trainer.progress=false"], str(tmp_path))
    assert len(report["epoch_s"]) == 2 and (report["epoch_s"] > 0).all()
    assert report["run_s"] > report["epoch_s"].sum()
    # The same seed, weights and batches as default_run's first epoch: the same mean loss.
    history = mlflow.MlflowClient(store["uri"]).get_metric_history(default_run["metrics"]["run_id"], "train_loss")
    assert report["first_loss"] == pytest.approx(next(m.value for m in history if m.step == 1), rel=1e-6)

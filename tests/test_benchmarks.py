"""The benchmark's measurement processes: which BLAS kernels they run, and what they report.

Speed itself is never asserted in a test (``benchmarks/`` prints it); what is tested is that the
benchmark measures what a user's machine runs and says so.
"""

import os

import pytest

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

"""Tracking: the MLflow store (``store``), the one writer of runs (``recorder``), what a run
records of its inputs and environment (``run_inputs``, ``environment``), a finished run's model
files (``logged_runs``), reading runs back (``queries``, ``seeds``), and hiding credentials
(``secrets``)."""

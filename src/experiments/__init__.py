"""Experiment entry points: train, predict; the runner and MLflow tracking behind them."""

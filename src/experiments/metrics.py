"""The vocabulary of what a run measures, in one place: config (``trainer.monitor``, the Optuna
direction) and training, tracking and comparison read their metric names from here."""

# Measured after every epoch, on the training split (during its pass) and the validation split.
EPOCH_METRICS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy")

# The direction each epoch metric improves in: -1 lower is better, +1 higher. Any of them can be
# ``trainer.monitor``, the metric that selects a run's best epoch.
MONITOR_SIGN = {"val_loss": -1, "val_accuracy": 1, "train_loss": -1, "train_accuracy": 1}

# The metrics of a run's best epoch (selected by ``trainer.monitor`` on validation) and the test
# metrics of its weights, in the order tables show them.
BEST_METRICS = (
    "best_epoch",
    "best_val_loss",
    "best_val_accuracy",
    "best_train_loss",
    "best_train_accuracy",
    "test_loss",
    "test_accuracy",
)

# Per-epoch metrics whose last value is the run's last epoch's: shown as ``final_<name>``.
FINAL_METRICS = ("val_loss", "val_accuracy", "train_loss", "train_accuracy")

"""Shared fixtures: a temporary MLflow store, config composition, and one trained default run."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from hypothesis import settings
from omegaconf import DictConfig

from seqlab import engine
from seqlab.experiments.cli import register_configs
from seqlab.experiments.training.runner import train
from seqlab.paths import checkout_root, conf_dir
from tests.servers import postgres_cluster

PROJECT_ROOT = checkout_root()

# What the entry points do before they compose a config.
engine.configure()
register_configs()

# No time limit on a Hypothesis example: a busy machine is slow, not wrong.
settings.register_profile("seqlab", deadline=None)
settings.load_profile("seqlab")


@pytest.fixture(scope="session")
def store(tmp_path_factory) -> dict[str, str]:
    """A fresh embedded-style MLflow store for the whole session: tracking URI and artifact root."""
    root = tmp_path_factory.mktemp("mlflow")
    return {"uri": f"sqlite:///{root / 'mlflow.db'}", "artifact_root": str(root / "artifacts")}


@pytest.fixture(scope="session")
def store_overrides(store, tmp_path_factory) -> list[str]:
    """Overrides that send a run (and its checkpoints) to the session's temporary store."""
    return [
        f"tracking.uri={store['uri']}",
        f"tracking.artifact_root={store['artifact_root']}",
        f"trainer.checkpoint_dir={tmp_path_factory.mktemp('checkpoints')}",
    ]


@pytest.fixture
def postgres() -> Iterator[str]:
    """A private PostgreSQL cluster on 127.0.0.1 (``tests.servers.postgres_cluster``): the
    SQLAlchemy URI of its database ``mlflow``."""
    with postgres_cluster() as uri:
        yield uri


def compose_config(overrides: list[str], config_name: str = "config", with_hydra: bool = False) -> DictConfig:
    """Compose ``conf/<config_name>.yaml`` with ``overrides``, as the entry points would (with
    the ``hydra`` node too when ``with_hydra``)."""
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        return compose(config_name=config_name, overrides=overrides, return_hydra_config=with_hydra)


def run_cli(
    module: str, *args: str, cwd: Path = PROJECT_ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run ``python -m <module> <args>`` in a new process (with ``env`` added to this one's
    environment); return its exit code and output."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="session")
def default_run(store_overrides) -> dict:
    """The default experiment, trained once per session into the temporary store."""
    cfg = compose_config(store_overrides + ["trainer.progress=false"])
    return {"cfg": cfg, "metrics": train(cfg)}


# Three classes in proportions 6:3:1 (train and test), told apart by the level of a noisy series.
CLASS_SIZES = {"calm": 60, "wavy": 30, "rare": 10}


def write_imbalanced_archive(folder, seed: int = 0) -> dict[str, str]:
    """A UCR-format TRAIN/TEST pair of three imbalanced classes; returns the data overrides."""
    rng = np.random.default_rng(seed)
    paths = {}
    for part in ("TRAIN", "TEST"):
        rows = []
        for level, (name, size) in enumerate(CLASS_SIZES.items()):
            series = level + rng.normal(0, 0.6, size=(size, 16))
            rows += [[name, *values] for values in series]
        path = folder / f"Imbalanced_{part}.tsv"
        pd.DataFrame(rows).sample(frac=1, random_state=seed).to_csv(path, sep="\t", header=False, index=False)
        paths[part] = path
    return {"data": "archive", "data.train_path": str(paths["TRAIN"]), "data.test_path": str(paths["TEST"])}


# A small GRU that learns those classes in seconds.
IMBALANCED_RUN = [
    "model=gru",
    "model.hidden_size=8",
    "trainer.epochs=12",
    "trainer.batch_size=16",
    "optimizer=adam",
    "optimizer.lr=0.02",
    "trainer.progress=false",
    "data.val_fraction=0.3",
]


@pytest.fixture(scope="session")
def imbalanced_run(store, store_overrides, tmp_path_factory) -> dict:
    """A run on three imbalanced classes of series, trained once per session: its metrics,
    the store, and the overrides of its data (the TRAIN/TEST files)."""
    data = write_imbalanced_archive(tmp_path_factory.mktemp("imbalanced"))
    cfg = compose_config(store_overrides + [f"{k}={v}" for k, v in data.items()] + IMBALANCED_RUN)
    return {"metrics": train(cfg), "store": store, "data": data}


def start_seqlab(log_path: Path, *arguments: str, cwd: Path = PROJECT_ROOT, **popen) -> subprocess.Popen:
    """``python -m seqlab <arguments>`` in a new process, its output in ``log_path``."""
    with open(log_path, "w") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "seqlab", *arguments], cwd=cwd, stdout=log, stderr=subprocess.STDOUT, **popen
        )


def wait_for(condition, process: subprocess.Popen, log_path: Path, timeout_s: float = 300):
    """Poll ``condition()`` until it returns something true, and return that; fail, with the
    process's log, if ``process`` ends first or ``timeout_s`` (generous: a busy machine) passes."""
    deadline = time.monotonic() + timeout_s
    while not (found := condition()):
        assert process.poll() is None, f"the process ended first:\n{log_path.read_text()}"
        assert time.monotonic() < deadline, f"nothing after {timeout_s} s:\n{log_path.read_text()}"
        time.sleep(0.05)
    return found


def checkpoints_in(folder: Path, count: int = 1) -> list[Path]:
    """The checkpoint files under ``folder`` when there are ``count`` of them (else nothing)."""
    found = list(folder.glob("*/checkpoint.safetensors"))
    return found if len(found) >= count else []

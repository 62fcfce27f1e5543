"""UI entry point: ``seqlab ui [port=5000]``: MLflow's UI on the store seqlab records runs in.

The embedded store (``runs/mlflow.db`` and its artifacts) or a sqlite/database ``tracking.uri``
is served by ``mlflow ui`` on 127.0.0.1; a tracking server serves its own UI, whose address is
printed.
"""

import logging
import os
import shutil
import sys

from omegaconf import DictConfig

from seqlab.experiments.cli import hydra_app
from seqlab.experiments.config.validation import validate
from seqlab.experiments.tracking.store import embedded_store_uri
from seqlab.paths import runs_dir

log = logging.getLogger(__name__)


def ui_command(cfg: DictConfig) -> list[str] | None:
    """The ``mlflow ui`` command line for ``cfg``'s store, or None for a tracking server."""
    uri = cfg.tracking.uri or embedded_store_uri()
    if uri.startswith(("http://", "https://")):
        return None
    artifacts = cfg.tracking.artifact_root or str(runs_dir() / "artifacts")
    mlflow = shutil.which("mlflow", path=os.path.dirname(sys.executable)) or "mlflow"
    return [mlflow, "ui", "--backend-store-uri", uri, "--default-artifact-root", artifacts]


@hydra_app("ui")
def main(cfg: DictConfig) -> None:
    """Run ``mlflow ui`` on the store (replacing this process), or print a server's address."""
    validate(cfg)
    command = ui_command(cfg)
    if command is None:
        log.info("runs are on the tracking server %s: its UI is there", cfg.tracking.uri)
        return
    command += ["--host", cfg.host, "--port", str(cfg.port)]
    log.info("MLflow UI of %s at http://%s:%d (Ctrl-C stops it)", command[3], cfg.host, cfg.port)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()

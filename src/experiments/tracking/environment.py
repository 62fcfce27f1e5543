"""What code and engine produced a run: git commit, versions, BLAS, installed packages."""

import importlib.metadata
import platform
import subprocess

import mlflow
import numpy as np

from seqlab.engine import engine_info
from seqlab.models.compiling import COMPILE_MODE_DESCRIPTION
from seqlab.paths import checkout_root


def _git(*args: str) -> str:
    """``git <args>`` in seqlab's checkout; "unknown" for an installed seqlab (its version tag
    says which code ran) or without git."""
    if checkout_root() is None:
        return "unknown"
    try:
        result = subprocess.run(["git", *args], cwd=checkout_root(), capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return result.stdout.strip()


def environment_tags() -> dict[str, str]:
    """Tags that say what code and engine produced a run: git commit, versions, BLAS."""
    commit = _git("rev-parse", "HEAD")
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "git_commit": commit,
        "mlflow.source.git.commit": commit,
        "git_dirty": "unknown" if dirty == "unknown" else str(bool(dirty)).lower(),
        "seqlab_version": importlib.metadata.version("seqlab"),
        "numpy_version": np.__version__,
        "mlflow_version": mlflow.__version__,
        "python_version": platform.python_version(),
        **engine_info(COMPILE_MODE_DESCRIPTION),
    }


def installed_packages() -> str:
    """Every installed distribution as ``name==version`` lines, sorted (a ``pip freeze``)."""
    versions = {d.metadata["Name"]: d.version for d in importlib.metadata.distributions()}
    return "".join(f"{name}=={versions[name]}\n" for name in sorted(versions, key=str.lower))

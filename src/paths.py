"""Where seqlab keeps its configs, its local outputs and its compile cache, and how it writes a
file there so that no reader sees half of it.

``runs_dir()`` holds the embedded MLflow store, artifacts, Hydra output folders, checkpoints and
predictions. It is ``$SEQLAB_HOME/runs`` when ``SEQLAB_HOME`` is set; else ``runs/`` of the
checkout when seqlab runs from one (an editable install); else ``runs/`` in the current
directory. The compile cache (PyTensor's C modules, Numba's kernels) is ``runs/.cache`` in the
first two cases and a per-user ``~/.cache/seqlab`` (``$XDG_CACHE_HOME/seqlab``) in the third, so
that an installed seqlab compiles a graph once per machine, whichever directory it runs in or
loads a logged model from.
"""

import os
import tempfile
from functools import cache
from importlib.resources import files
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
HOME_VARIABLE = "SEQLAB_HOME"


def conf_dir() -> Path:
    """The directory of seqlab's Hydra configs (``conf/`` of the checkout, or the installed
    package data ``seqlab/conf``)."""
    return Path(str(files("seqlab.conf")))


def checkout_root() -> Path | None:
    """The root of the source checkout seqlab is imported from, or None for an installed wheel."""
    root = PACKAGE_DIR.parent
    return root if (root / "pyproject.toml").is_file() and (root / "conf").is_dir() else None


@cache
def runs_location() -> tuple[Path, str]:
    """``runs_dir()`` and why it is there (``SEQLAB_HOME``, ``checkout`` or ``current directory``)."""
    if os.environ.get(HOME_VARIABLE):
        return Path(os.environ[HOME_VARIABLE]).resolve() / "runs", HOME_VARIABLE
    if checkout_root() is not None:
        return checkout_root() / "runs", "checkout"
    return Path.cwd().resolve() / "runs", "current directory"


def runs_dir() -> Path:
    """Where runs, their store and their outputs go (see the module docstring)."""
    return runs_location()[0]


def datasets_dir() -> Path:
    """Where archive data sets downloaded by name are kept: ``$SEQLAB_HOME/datasets`` when
    ``SEQLAB_HOME`` is set, else the per-user ``~/.cache/seqlab/datasets``
    (``$XDG_CACHE_HOME/seqlab/datasets``), shared by every project of the user."""
    if os.environ.get(HOME_VARIABLE):
        return Path(os.environ[HOME_VARIABLE]).resolve() / "datasets"
    return _user_cache() / "datasets"


def _user_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "seqlab"


def cache_dir() -> Path:
    """Where compiled code is cached (see the module docstring)."""
    runs, reason = runs_location()
    if reason != "current directory":
        return runs / ".cache"
    return _user_cache()


def write_atomically(content: bytes, path: Path) -> None:
    """Write ``content`` to ``path`` (its folder made if missing) through a temporary file in the
    same folder, synced and renamed: a reader, a parallel writer or a run killed mid-write sees
    the whole file or none, and no temporary file is left behind. Raises OSError."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # a full disk, a signal: no half-written file is left behind
        Path(tmp).unlink(missing_ok=True)
        raise

"""A data set's identity before it is loaded: a short name and a content digest, from its
``data`` config and the bytes of the files it names (for names that must differ whenever the
data does, such as an Optuna study's)."""

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from seqlab.data.files import data_file

# The options of a data config that name files.
PATH_OPTIONS = ("path", "train_path", "validation_path", "test_path")
# Options left out of the digest besides the paths: the seed draws splits and examples from the
# same source, and a search over seeds is still one search.
UNHASHED_OPTIONS = PATH_OPTIONS + ("seed",)


def data_identity(options: Mapping[str, Any]) -> str:
    """``<name>-<digest>`` for the data config ``options`` (``name`` and the source's options):
    the name is the stems of its files joined by ``+`` (``Coffee_TRAIN+Coffee_TEST``), or the
    source's name for generated data; the digest (10 hex digits of SHA-256) covers every option
    but the file paths and the seed, and the files' bytes: configs of different data differ in
    it, and the same files moved elsewhere keep it. Raises DataError for a missing file."""
    files = [data_file(options[key]) for key in PATH_OPTIONS if options.get(key)]
    digest = hashlib.sha256()
    for key in sorted(options):
        if key not in UNHASHED_OPTIONS:
            digest.update(f"{key}={options[key]!r};".encode())
    for path in files:
        digest.update(file_digest(path).encode())
    name = "+".join(path.stem for path in files) or str(options["name"])
    return f"{name}-{digest.hexdigest()[:10]}"


def file_digest(path: str | Path) -> str:
    """The SHA-256 of the bytes of the file at ``path``, in hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()

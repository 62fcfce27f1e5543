"""UCR/UEA archive data sets by name: ``data=ucr data.name=GunPoint``.

An archive data set is one zip at ``<base_url>/<name>.zip`` (as timeseriesclassification.com
serves them to aeon's ``load_classification``), holding ``<name>_TRAIN`` and ``<name>_TEST`` in
the UEA ``.ts`` or the UCR ``.tsv`` format, at its top or in a folder. It is downloaded once into
a cache folder (``seqlab.paths.datasets_dir``), checked (every member's CRC, both files there)
and unpacked to ``<cache>/<name>/``; later runs read that folder. Nothing half-written is ever
left in the cache: the download and the unpacking happen in a temporary folder beside it, which
is renamed into place only when complete. ``root`` reads a local copy of the archive instead
(``<root>/<name>/<name>_TRAIN.ts`` or ``<root>/<name>_TRAIN.ts``) and downloads nothing.
"""

import logging
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from seqlab.data.dataset import DataSplits
from seqlab.data.errors import DataError
from seqlab.data.ucr import READERS, load_archive
from seqlab.paths import datasets_dir

log = logging.getLogger(__name__)

# How long a download may wait for the server to answer or send more bytes.
TIMEOUT_S = 60


def split_files(folder: Path, name: str) -> tuple[Path, Path] | None:
    """The TRAIN and TEST files of data set ``name`` in ``folder`` or ``folder/name`` (the first
    format of ``READERS`` that has both), or None."""
    for place in (folder / name, folder):
        for suffix in READERS:
            train, test = (place / f"{name}_{split}.{suffix}" for split in ("TRAIN", "TEST"))
            if train.is_file() and test.is_file():
                return train, test
    return None


def _download(url: str, target: Path) -> None:
    """Write the bytes at ``url`` to ``target``; DataError when the server cannot be reached,
    answers with an error, or sends fewer bytes than it announced."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, open(target, "wb") as out:
            announced = response.headers.get("Content-Length")
            shutil.copyfileobj(response, out, 1 << 20)
            received = out.tell()
    except urllib.error.HTTPError as error:
        raise DataError(url, f"the server answered {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise DataError(url, f"cannot be downloaded ({reason})") from None
    if announced is not None and received != int(announced):
        raise DataError(url, f"the download ended after {received} of {announced} bytes")


def _unpack(archive: Path, name: str, target: Path) -> None:
    """Check the zip ``archive`` (every member's CRC) and write its TRAIN and TEST files of
    ``name`` into the new folder ``target``; DataError for a damaged zip or missing files."""
    try:
        with zipfile.ZipFile(archive) as zipped:
            damaged = zipped.testzip()
            if damaged is not None:
                raise DataError(archive.name, f"member {damaged} is damaged (its CRC does not match)")
            target.mkdir()
            wanted = {f"{name}_{split}.{suffix}" for split in ("TRAIN", "TEST") for suffix in READERS}
            members = [m for m in zipped.infolist() if Path(m.filename).name in wanted]
            for member in members:
                with zipped.open(member) as source, open(target / Path(member.filename).name, "wb") as out:
                    shutil.copyfileobj(source, out, 1 << 20)
            names = [Path(m.filename).name for m in zipped.infolist()]
    except (zipfile.BadZipFile, EOFError) as error:
        raise DataError(archive.name, f"is not a complete zip archive ({error})") from None
    if split_files(target, name) is None:
        raise DataError(
            archive.name, f"holds no {name}_TRAIN and {name}_TEST pair (.ts or .tsv); it holds {names[:10]}"
        )


def fetch(name: str, base_url: str, cache: Path | None = None) -> Path:
    """The folder of data set ``name`` in the cache (``datasets_dir()`` by default), downloaded
    from ``<base_url>/<name>.zip`` and unpacked when it is not there yet.

    Raises DataError when the download or the archive fails, saying what to do; the cache then
    holds nothing of it."""
    cache = cache or datasets_dir()
    folder = cache / name
    if split_files(folder, name) is not None:
        return folder
    url = f"{base_url.rstrip('/')}/{name}.zip"
    cache.mkdir(parents=True, exist_ok=True)
    log.info("downloading %s into %s", url, cache)
    with tempfile.TemporaryDirectory(dir=cache, prefix=f".{name}.") as scratch:
        try:
            _download(url, Path(scratch) / f"{name}.zip")
            _unpack(Path(scratch) / f"{name}.zip", name, Path(scratch) / name)
        except DataError as error:
            raise DataError(
                error.path,
                f"{error.problem}; nothing was kept in {cache}. Check data.name={name!r} (names are "
                f"case-sensitive) and data.base_url, retry, or unpack {name}.zip into a folder and "
                "set data.root=<that folder>",
            ) from None
        try:
            os.rename(Path(scratch) / name, folder)
        except OSError:  # another process unpacked it first
            if split_files(folder, name) is None:
                raise
    return folder


def load_named_archive(name: str, root: str | None, base_url: str, **options) -> DataSplits:
    """Data set ``name`` of the UCR/UEA archive, from the folder ``root`` when given, else from
    the cache (``fetch``), read by ``load_archive`` with ``options`` (its validation split a
    seeded share of TRAIN)."""
    if root is not None:
        files = split_files(Path(root), name)
        if files is None:
            raise DataError(
                root, f"holds no {name}_TRAIN and {name}_TEST files (.ts or .tsv), at its top or in {name}/"
            )
    else:
        files = split_files(fetch(name, base_url), name)
    train, test = files
    return load_archive(str(train), str(test), None, **options)

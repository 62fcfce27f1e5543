"""Reading a data file's text: one clear error for a missing path, a folder, or bytes that are
not text in the file's encoding (naming the line and the byte offset, so that the bad byte can
be found)."""

import codecs
from pathlib import Path

from seqlab.data.errors import DataError


def data_file(path: str | Path) -> Path:
    """``path``, once it is known to be a file; DataError when it is missing or a folder."""
    path = Path(path)
    if path.is_dir():
        raise DataError(path, "is a folder; give the path of a data file in it")
    if not path.is_file():
        raise DataError(path, "no such file")
    return path


def read_text(path: str | Path, encoding: str = "utf-8") -> str:
    """The text of the file at ``path`` in ``encoding`` (a leading UTF-8 byte-order mark dropped).

    Raises DataError when ``path`` does not exist, is a folder, cannot be read, or holds bytes
    that are not text in ``encoding``; a decode error names the line and the byte offset in the
    file."""
    path = data_file(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DataError(path, f"cannot be read ({error.strerror})") from None
    try:
        return data.decode("utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding)
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise DataError(
            path,
            f"not {encoding} text: byte 0x{data[error.start]:02x} at byte offset {error.start} "
            f"(column {column} of the line) is {error.reason}; set data.encoding (latin-1, cp1252, ...) "
            "or re-save the file as UTF-8",
            line,
        ) from None

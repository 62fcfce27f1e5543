"""Reading a data file's text: one clear error for a missing path, a folder, a file far larger
than its kind of data warrants (before it is read), or bytes that are not text in the file's
encoding (naming the line and the byte offset, so that the bad byte can be found; a binary file
is recognised from its first bytes, before the rest is read)."""

import codecs
from pathlib import Path

from seqlab.data.errors import DataError

# Bytes decoded before the whole file is read: a binary file fails here.
PREFIX_BYTES = 1 << 16


def data_file(path: str | Path, max_mb: float | None = None) -> Path:
    """``path``, once it is known to be a file of at most ``max_mb`` MiB (``data.max_file_mb``);
    DataError when it is missing, a folder, or larger."""
    path = Path(path)
    if path.is_dir():
        raise DataError(path, "is a folder; give the path of a data file in it")
    if not path.is_file():
        raise DataError(path, "no such file")
    size = path.stat().st_size / 2**20
    if max_mb is not None and size > max_mb:
        raise DataError(
            path,
            f"is {size:,.0f} MiB, more than data.max_file_mb={max_mb:g} allows: is it the right file? "
            "(raise data.max_file_mb to read it)",
        )
    return path


def _decode_error(path: Path, data: bytes, error: UnicodeDecodeError, encoding: str) -> DataError:
    line = data.count(b"\n", 0, error.start) + 1
    column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
    return DataError(
        path,
        f"not {encoding} text: byte 0x{data[error.start]:02x} at byte offset {error.start} "
        f"(column {column} of the line) is {error.reason}; set data.encoding (latin-1, cp1252, ...) "
        "or re-save the file as UTF-8",
        line,
    )


def read_text(path: str | Path, encoding: str = "utf-8") -> str:
    """The text of the file at ``path`` in ``encoding`` (a leading UTF-8 byte-order mark dropped).

    Raises DataError when ``path`` does not exist, is a folder, cannot be read, or holds bytes
    that are not text in ``encoding``; a decode error names the line and the byte offset in the
    file."""
    path = data_file(path)
    codec = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding
    try:
        with open(path, "rb") as f:
            prefix = f.read(PREFIX_BYTES)
            try:  # a binary file given by mistake is refused before the rest of it is read
                codecs.getincrementaldecoder(codec)().decode(prefix, final=False)
            except UnicodeDecodeError as error:
                raise _decode_error(path, prefix, error, encoding) from None
            data = prefix + f.read()
    except OSError as error:
        raise DataError(path, f"cannot be read ({error.strerror})") from None
    try:
        return data.decode(codec)
    except UnicodeDecodeError as error:
        raise _decode_error(path, data, error, encoding) from None


def file_lines(text: str) -> list[str]:
    """The lines of a file's ``text`` as the file has them: cut at ``\\n`` (a ``\\r`` before it
    dropped), never at the other characters ``str.splitlines`` breaks on. A byte of a Windows
    code page read as latin-1 can be NEL (0x85), which is no line end in a data file."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]

"""The error every loader raises for bad input: it names the file, the line and the problem."""

from pathlib import Path


class DataError(ValueError):
    """Bad data: ``path:line: problem`` (line omitted when the problem is not on one line)."""

    def __init__(self, path: str | Path, problem: str, line: int | None = None):
        self.path, self.line, self.problem = str(path), line, problem
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}")

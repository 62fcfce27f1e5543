"""Recurrent cells, one module each, and the registry everything else reads: the network, the
fused Ops, config validation and schemas, the reference tests and the benchmark.

Adding a cell: a module defining a ``Cell`` (``seqlab.models.cells.base``), its entry in
``CELLS`` below (or ``register_cell`` from elsewhere, e.g. a test), and ``conf/model/<name>.yaml``.
"""

from seqlab.models.cells import elman, gru, lstm
from seqlab.models.cells.base import Cell

CELLS: dict[str, Cell] = {cell.name: cell for cell in (elman.CELL, lstm.CELL, gru.CELL)}


def register_cell(cell: Cell) -> None:
    """Make ``cell`` available as ``model=<cell.name>`` (replacing a cell of that name)."""
    CELLS[cell.name] = cell


def get_cell(name: str) -> Cell:
    """The cell registered as ``name``."""
    if name not in CELLS:
        raise ValueError(f"unknown cell {name!r}; known: {sorted(CELLS)}")
    return CELLS[name]

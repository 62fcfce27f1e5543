"""Recurrent cells, one module each, and the registry everything else reads: the network, the
fused Ops, config validation and schemas, the reference tests and the benchmark.

Adding a cell: a module defining a ``Cell`` (``seqlab.models.cells.base``), its entry in
``CELLS`` below (or ``register_cell`` from elsewhere, e.g. a test), and ``conf/model/<name>.yaml``.
"""

from seqlab.models.cells import elman, gru, lstm
from seqlab.models.registry import Registry

CELLS = Registry("cell", (elman.CELL, lstm.CELL, gru.CELL))
# register_cell(cell): make it available as model=<cell.name>; get_cell(name): the cell of that name.
register_cell, get_cell = CELLS.register, CELLS.named

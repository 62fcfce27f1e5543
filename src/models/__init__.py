"""Recurrent models as PyTensor graphs.

Importing this package imports PyTensor with seqlab's compile directory
(:func:`seqlab.engine.import_pytensor`), the one thing that must precede ``import pytensor``;
everything else about the engine is set up by :func:`seqlab.engine.configure`.
"""

from seqlab.engine import import_pytensor

import_pytensor()

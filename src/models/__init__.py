"""Recurrent models as PyTensor graphs. Importing this package configures PyTensor first."""

from seqlab.models import backend  # noqa: F401  (must run before any other module imports pytensor)

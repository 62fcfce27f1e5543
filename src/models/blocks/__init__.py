"""Blocks: the pieces a network is folded from (``seqlab.models.network``), one module each.

A block maps a batch to a batch and owns its parameters: ``init`` creates them (by local name)
and says how many features come out, ``apply`` builds the graph from them. The network gives
each block only its own parameters, stored under the block's ``prefix``, so no block ever reads
another's, and each block learns its input size from the block before it. See
``seqlab.models.blocks.base`` for the protocol and the containers (``Sequential``, ``Parallel``).
"""

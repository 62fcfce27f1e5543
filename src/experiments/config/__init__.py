"""Config: the structured schema behind ``conf/`` (one module per group, ``schema`` for the
whole), validation with errors that name the key, the value and where it was set
(``validation``), and the resolvers ``conf/`` uses (``resolvers``)."""

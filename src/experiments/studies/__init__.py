"""Studies: configurations × data sets × seeds, each cell one training run (``cells``), run
through Hydra's launcher and resumed from the store (``launch``), and reported as a paper's
table, ranks, tests and critical-difference diagram (``report``, ``statistics``, ``baselines``,
``figures``)."""

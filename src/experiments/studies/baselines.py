"""Published results to rank a study against (``study.baselines``): a CSV in the long form
``dataset, method, accuracy``, or wide, as tsml and timeseriesclassification.com publish them
(a row per data set and a column per method, or a row per method and a column per data set),
joined with the study on data set names. Accuracies in percent are read as fractions."""

from pathlib import Path

import pandas as pd

from seqlab.data.errors import DataError
from seqlab.data.text_table import read_table

LONG_COLUMNS = ("dataset", "method", "accuracy")


def read_baselines(path: str, datasets: list[str]) -> pd.DataFrame:
    """The accuracies of ``path`` as a data set × method table over the study's ``datasets``
    (NaN where a method has no result). DataError when the file names none of them, or holds
    anything but accuracies."""
    table, _ = read_table(Path(path), sep=",", header=0, encoding="utf-8")
    columns = [str(c).strip() for c in table.columns]
    table.columns = columns
    if set(LONG_COLUMNS) <= {c.lower() for c in columns}:
        table = table.rename(columns={c: c.lower() for c in columns})
        table["dataset"] = table["dataset"].astype(str).str.strip()
        table["accuracy"] = pd.to_numeric(table["accuracy"], errors="coerce")
        wide = table.pivot_table(index="dataset", columns="method", values="accuracy", aggfunc="mean")
    else:
        wide = table.set_index(columns[0])
        wide.index = wide.index.astype(str).str.strip()
        if not set(wide.index) & set(datasets) and set(wide.columns) & set(datasets):
            wide = wide.T  # a row per method
    known = [d for d in datasets if d in wide.index]
    if not known:
        raise DataError(
            path,
            f"names none of the study's data sets {datasets}: give a long table {list(LONG_COLUMNS)} or a wide "
            "one with a row (or a column) per data set, named as in the study",
        )
    values = wide.reindex(datasets).apply(pd.to_numeric, errors="coerce")
    numbers = values.stack()
    if (numbers < 0).any() or (numbers > 100).any():
        raise DataError(path, "holds values outside [0, 1] (or [0, 100] for percent): accuracies are expected")
    if (numbers > 1).any():
        values = values / 100
    return values.rename_axis(index="dataset", columns="method")

"""How a study's runs are tagged and found in the store: one parent run per study (in its
experiment), reopened by every ``seqlab study`` of that study, and one run per cell, tagged with
its study, configuration, data set, seed (and cross-validation fold) and the digest of what it
trains (``CELL_DIGEST``)."""

import mlflow
import pandas as pd

# Tags of a study's runs: the parent carries STUDY and STUDY_PARENT, each cell STUDY and CELL_TAGS.
STUDY, STUDY_PARENT = "study", "study_parent"
CONFIGURATION, DATASET, SEED, FOLD, CELL_DIGEST = "configuration", "dataset", "seed", "fold", "cell_digest"
CELL_TAGS = (CONFIGURATION, DATASET, SEED, FOLD, CELL_DIGEST)
# The parent's record of the cells a study was last run with (their tags), read by its report.
CELLS_ARTIFACT = "cells.csv"
# The tag of a run of ``seqlab reproduce``: the id of the run it trains again.
REPRODUCES = "reproduces"


def find_study_parent(experiment_id: str, study: str) -> str | None:
    """The id of study ``study``'s parent run in experiment ``experiment_id``, or None."""
    runs = mlflow.search_runs(
        [experiment_id],
        filter_string=f"tags.{STUDY} = '{study}' and tags.{STUDY_PARENT} = 'true'",
        order_by=["attributes.start_time ASC"],
    )
    return None if runs.empty else runs["run_id"].iloc[0]


def study_cell_runs(experiment_id: str, study: str) -> pd.DataFrame:
    """Every cell run of study ``study`` in experiment ``experiment_id``, as
    ``mlflow.search_runs`` gives them, newest first; not its parent, nor the runs of
    ``seqlab reproduce`` (tagged ``reproduces``), which carry a cell's tags but are not the study's."""
    runs = mlflow.search_runs(
        [experiment_id], filter_string=f"tags.{STUDY} = '{study}'", order_by=["attributes.start_time DESC"]
    )
    if runs.empty:
        return runs
    absent = pd.Series(index=runs.index, dtype=object)
    return runs[(runs.get(f"tags.{STUDY_PARENT}", absent) != "true") & runs.get(f"tags.{REPRODUCES}", absent).isna()]

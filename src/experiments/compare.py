"""Compare entry point: ``seqlab compare target=<sweep id | experiment>``.

Reads the runs of one sweep (its parent run's id) or of one experiment (name or id) with
``mlflow.search_runs``, and prints the parameters that vary between them against their best
epoch's, test and final metrics, sorted by a validation metric (``sort_by``); the same table
is written as CSV. Runs over seeds are summarised per configuration, within each data set.
"""

import logging
import re
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig

from seqlab.experiments.cli import hydra_app
from seqlab.experiments.config.validation import validate
from seqlab.experiments.tracking.queries import comparison_table, find_runs, monitored_metric, varied_params
from seqlab.experiments.tracking.seeds import (
    DATASET_TAG_PARAM,
    configuration_params,
    dataset_params,
    over_seeds,
    paired_comparison,
    repetitions,
)
from seqlab.experiments.tracking.store import use_tracking_store
from seqlab.paths import runs_dir

log = logging.getLogger(__name__)

# How the summaries name the repetitions they are over.
REPEATED = {"seed": "seeds", "data.fold": "folds"}

TABLE_KEY = (
    "best_*: the epoch chosen by trainer.monitor (on validation; on train for runs with no validation split); "
    "test_*: that epoch's weights on the test split; final_*: the last epoch"
)


@hydra_app("compare")
def main(cfg: DictConfig) -> None:
    """Print the comparison table of ``cfg.target`` and write it as CSV; when the runs vary
    their seed, also the results over seeds of each configuration (``<output>_seeds.csv``) and
    a paired comparison of the two best."""
    validate(cfg)
    use_tracking_store(cfg.tracking)
    runs = find_runs(cfg.target)
    sort_by = cfg.sort_by or monitored_metric(runs)
    table = comparison_table(runs, sort_by)
    safe_target = re.sub(r"[^\w.-]", "_", cfg.target)  # a file name inside runs/compare, whatever the target
    output = Path(cfg.output or runs_dir() / "compare" / f"{safe_target}.csv")
    output.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(output, index=False)
    with pd.option_context("display.max_columns", None, "display.width", 200):
        print(table.to_string(index=False))
        print(TABLE_KEY)
        params = varied_params(runs)
        if repetitions(params):
            print_over_seeds(table, params, sort_by, cfg.paired_metric, output)
    log.info("%d runs; table written to %s", len(table), output)


def dataset_label(values: pd.Series) -> str:
    """A data set by name: a study's data set tag, else the data options it sets."""
    if DATASET_TAG_PARAM in values:
        return str(values[DATASET_TAG_PARAM])
    return " ".join(f"{key}={value}" for key, value in values.items() if pd.notna(value))


def print_over_seeds(table: pd.DataFrame, params: list[str], sort_by: str, paired_metric: str, output: Path) -> None:
    """Print (and write next to ``output``) each configuration's results over seeds and folds
    (``repetitions``), best first by ``sort_by``, within each data set when the runs differ in
    their data (``dataset_params``: never pooled or paired across data sets); with two or more
    configurations on a data set, the paired tests of its two best on ``paired_metric``."""
    datasets, configurations = dataset_params(params), configuration_params(params)
    summary = over_seeds(table, datasets + configurations, sort_by)
    metrics = [c.removesuffix("_mean") for c in summary.columns if c.endswith("_mean")]
    summary.to_csv(output.with_name(f"{output.stem}_seeds.csv"), index=False)
    shown = summary[[*configurations, "n"]].copy()
    for metric in metrics:
        mean, std, ci = (summary[f"{metric}_{part}"] for part in ("mean", "std", "ci95"))
        shown[metric] = [f"{m:.4g} ± {s:.2g} (CI ±{c:.2g})" for m, s, c in zip(mean, std, ci, strict=True)]
    over = " and ".join(REPEATED[p] for p in repetitions(params))
    print(f"\nOver {over}: mean ± std (half-width of the 95 % CI of the mean) and n, best first by {sort_by}:")
    blocks = summary.groupby(datasets, sort=False, dropna=False).groups.values() if datasets else [summary.index]
    for rows in blocks:
        if datasets:
            print(f"\ndata set {dataset_label(summary.loc[rows[0], datasets])}:")
        print(shown.loc[rows].to_string(index=False))
        if len(rows) < 2:
            continue
        first, second = (summary.loc[rows[i], datasets + configurations].to_dict() for i in (0, 1))
        result = paired_comparison(table, datasets + configurations, first, second, paired_metric)
        names = [{p: pair[p] for p in configurations} for pair in (first, second)]
        print(
            f"Paired over {over} {result['seeds']}: {paired_metric} of {names[0]} minus {names[1]}: "
            f"mean difference {result['mean_difference']:.4g}; Wilcoxon signed-rank p = {result['wilcoxon_p']:.4g}, "
            f"paired t-test p = {result['paired_t_p']:.4g}"
        )


if __name__ == "__main__":
    main()

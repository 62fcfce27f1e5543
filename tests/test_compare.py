"""compare's errors: an unknown target or metric is named, in-process and quickly."""

import pytest
from omegaconf import OmegaConf

from seqlab.experiments.queries import comparison_table, find_runs
from seqlab.experiments.tracking import use_tracking_store
from seqlab.experiments.validation import ConfigError


def test_an_unknown_target_is_named(default_run, store):
    use_tracking_store(OmegaConf.create({"uri": store["uri"]}))
    with pytest.raises(LookupError, match="target='no-such-sweep' is no sweep id, experiment name or experiment id"):
        find_runs("no-such-sweep")


def test_an_unknown_sort_metric_is_named(default_run, store):
    use_tracking_store(OmegaConf.create({"uri": store["uri"]}))
    runs = find_runs(default_run["cfg"].tracking.experiment_name)
    assert default_run["metrics"]["run_id"] in set(runs["run_id"])
    with pytest.raises(ConfigError, match="sort_by='accuracy': the runs have no such metric"):
        comparison_table(runs, "accuracy")

"""A Hydra sweeper that searches with Optuna's ask-and-tell interface.

hydra-optuna-sweeper 1.3.0 pins ``optuna<3``, whose sqlite storage does not work with
SQLAlchemy 2 (which MLflow needs); this sweeper works with current Optuna. Hydra only
instantiates sweepers defined under ``hydra_plugins``, hence this package.

Configured under ``hydra.sweeper`` (see ``OptunaSweeperConf``): the search space ``params`` in
Hydra's sweep syntax — ``choice(8, 16)`` (categorical), ``interval(0.001, 0.5)`` (uniform;
``tag(log, interval(...))`` log-uniform), ``range(1, 5)`` (integers) — plus any sweep given on
the command line; other overrides are passed to every trial. Trials are asked ``n_jobs`` at a
time and launched as one batch by the configured launcher; each job's return value is the
objective, and a job that raised is told to Optuna as a failed trial. With ``seeds`` = k > 1,
each trial is k jobs (``seed`` = the config's seed, +1, ... +k-1) and its objective their mean.
"""

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from seqlab.experiments.signals import stopped_by

if TYPE_CHECKING:
    import optuna

log = logging.getLogger(__name__)

RESULTS_FILE = "optimization_results.yaml"


@dataclass
class OptunaSweeperConf:
    """``hydra.sweeper``: the study (name, storage, direction, sampler) and the search."""

    _target_: str = "hydra_plugins.seqlab_optuna_sweeper.optuna_sweeper.OptunaSweeper"
    # An Optuna sampler, which Hydra instantiates: {_target_: optuna.samplers.TPESampler, seed: 0}.
    sampler: Any = field(default_factory=lambda: {"_target_": "optuna.samplers.TPESampler"})
    direction: str = "minimize"
    study_name: str | None = None
    # An Optuna storage URL (sqlite:///...); null keeps the study in memory.
    storage: str | None = None
    n_trials: int = 20
    n_jobs: int = 1
    # Search space: {"optimizer.lr": "tag(log, interval(0.001, 0.5))", ...}.
    params: dict[str, str] = field(default_factory=dict)
    # Jobs per trial, each with its own seed (seed, seed+1, ...): the objective is their mean.
    seeds: int = 1
    # What the study is about ({"data": ..., "monitor": ...}): recorded when it is created; a
    # search whose values differ from a stored study's is refused instead of continuing it.
    user_attrs: dict[str, Any] = field(default_factory=dict)


ConfigStore.instance().store(group="hydra/sweeper", name="seqlab_optuna", node=OptunaSweeperConf, provider="seqlab")


def _numbers(values: list[Any]) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) for v in values)


def suggest(trial: "optuna.Trial", override: Override) -> Any:
    """The value trial ``trial`` takes for the sweep ``override`` (choice, range or interval)."""
    name, sweep = override.get_key_element(), override.value()
    if isinstance(sweep, ChoiceSweep):
        return trial.suggest_categorical(name, list(override.sweep_iterator()))
    if isinstance(sweep, RangeSweep):
        values = list(override.sweep_iterator())
        if _numbers(values) and len(values) > 1:
            return trial.suggest_int(name, values[0], values[-1], step=values[1] - values[0])
        return trial.suggest_categorical(name, values)
    if isinstance(sweep, IntervalSweep):
        log_scale = "log" in sweep.tags
        if _numbers([sweep.start, sweep.end]):
            return trial.suggest_int(name, int(sweep.start), int(sweep.end), log=log_scale)
        return trial.suggest_float(name, sweep.start, sweep.end, log=log_scale)
    raise ValueError(f"hydra.sweeper: cannot search over {override.input_line!r}")


class OptunaSweeper(Sweeper):
    """Runs ``n_trials`` trials of an Optuna study through Hydra's launcher (module docstring)."""

    def __init__(
        self,
        sampler: "optuna.samplers.BaseSampler",
        direction: str,
        study_name: str | None,
        storage: str | None,
        n_trials: int,
        n_jobs: int,
        params: DictConfig | None,
        user_attrs: DictConfig | None = None,
        seeds: int = 1,
    ) -> None:
        self.sampler, self.direction = sampler, direction
        self.study_name, self.storage = study_name, storage
        self.n_trials, self.n_jobs = n_trials, n_jobs
        self.params = OmegaConf.to_container(params) if params else {}
        self.user_attrs = OmegaConf.to_container(user_attrs, resolve=True) if user_attrs else {}
        self.seeds = seeds

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        """Keep the config and create the launcher that runs the trials."""
        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def _split(self, arguments: list[str]) -> tuple[list[Override], list[str]]:
        """The sweep overrides (search space) and the fixed ones, from ``params`` and ``arguments``."""
        parser = OverridesParser.create()
        overrides = parser.parse_overrides([f"{key}={value}" for key, value in self.params.items()])
        overrides += parser.parse_overrides(arguments)
        searched = {o.get_key_element(): o for o in overrides if o.is_sweep_override()}
        fixed = [o.input_line for o in overrides if not o.is_sweep_override()]
        return list(searched.values()), fixed

    def sweep(self, arguments: list[str]) -> list[Any]:
        """Run the study; return the trials' values (None for failed ones)."""
        searched, fixed = self._split(arguments)
        seeds = self._seed_overrides(fixed, searched)
        import optuna

        study = optuna.create_study(
            study_name=self.study_name,
            storage=self.storage,
            sampler=self.sampler,
            direction=self.direction,
            load_if_exists=True,
        )
        self._claim(study)
        log.info(
            "Optuna study %r (%s) in %s: %d trials, %d at a time",
            study.study_name,
            self.direction,
            self.storage or "memory",
            self.n_trials,
            self.n_jobs,
        )
        values: list[Any] = []
        while len(values) < self.n_trials:
            trials = [study.ask() for _ in range(min(self.n_jobs, self.n_trials - len(values)))]
            batch = [
                [*fixed, *(f"{o.get_key_element()}={suggest(trial, o)}" for o in searched), *seed]
                for trial in trials
                for seed in seeds
            ]
            self.validate_batch_is_legal(batch)
            try:
                returns = self.launcher.launch(batch, initial_job_idx=len(values) * len(seeds))
            except (KeyboardInterrupt, SystemExit):  # stopped (a job in this process exits)
                self._fail_stopped(study, trials)
                raise
            for number, trial in enumerate(trials):
                values.append(self._tell(study, trial, returns[number * len(seeds) : (number + 1) * len(seeds)]))
        self._save_best(study)
        return values

    def _seed_overrides(self, fixed: list[str], searched: list[Override]) -> list[list[str]]:
        """The overrides of each job of a trial: none for one seed, else ``seed=`` the config's
        seed and the ``seeds`` - 1 after it; refused when the search sets the seed too."""
        if self.seeds == 1:
            return [[]]
        given = {o.split("=", 1)[0].lstrip("+~") for o in fixed} | {o.get_key_element() for o in searched}
        if "seed" in given:
            raise ValueError(f"hydra.sweeper.seeds={self.seeds} sets each job's seed: do not give seed as well")
        return [[f"seed={self.config.seed + i}"] for i in range(self.seeds)]

    def _claim(self, study: "optuna.Study") -> None:
        """Record ``user_attrs`` in a new study; refuse a stored one whose attributes differ."""
        for key, value in self.user_attrs.items():
            stored = study.user_attrs.get(key)
            if stored is None:
                study.set_user_attr(key, value)
            elif stored != value:
                raise ValueError(
                    f"Optuna study {study.study_name!r} in {self.storage} was run with {key}={stored!r}; this search "
                    f"has {key}={value!r}: refusing to mix their trials (name another study with "
                    "hydra.sweeper.study_name)"
                )

    @staticmethod
    def _tell(study: "optuna.Study", trial: "optuna.Trial", jobs: list[Any]) -> float | None:
        """Tell ``study`` the mean return value of ``trial``'s jobs (one per seed), or that it
        failed when any job raised or returned a non-finite value; return the value told."""
        from optuna.trial import TrialState

        try:
            value = sum(float(job.return_value) for job in jobs) / len(jobs)
        except Exception as error:  # a job raised: a failed trial, the search goes on
            log.warning("trial %d failed: %s: %s", trial.number, type(error).__name__, error)
            study.tell(trial, state=TrialState.FAIL)
            return None
        if not math.isfinite(value):
            study.tell(trial, state=TrialState.FAIL)
            return None
        study.tell(trial, value)
        return value

    @staticmethod
    def _fail_stopped(study: "optuna.Study", trials: "list[optuna.Trial]") -> None:
        """Mark the trials a stop interrupted FAIL in the study (never left RUNNING), with the
        signal that stopped them as the user attribute ``stopped_by``."""
        from optuna.trial import TrialState

        reason = stopped_by() or "an interrupt"
        for trial in trials:
            trial.set_user_attr("stopped_by", reason)
            study.tell(trial, state=TrialState.FAIL)
        log.warning(
            "search stopped by %s: trial(s) %s marked FAIL in Optuna study %r",
            reason,
            ", ".join(str(trial.number) for trial in trials),
            study.study_name,
        )

    def _save_best(self, study: "optuna.Study") -> None:
        from optuna.trial import TrialState

        completed = study.get_trials(states=(TrialState.COMPLETE,))
        if not completed:
            raise RuntimeError(f"Optuna study {study.study_name!r}: no trial completed")
        best = study.best_trial
        results = {"name": study.study_name, "best_value": best.value, "best_params": best.params}
        path = Path(self.config.hydra.sweep.dir) / RESULTS_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(OmegaConf.create(results), path)
        log.info("Best value %s (trial %d): %s; written to %s", best.value, best.number, best.params, path)

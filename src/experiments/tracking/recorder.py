"""The one door to MLflow while runs are recorded.

A ``RunRecorder`` starts (or resumes) a run, logs its params, metrics, tags, texts, files,
figures and model, and ends it with a status. The runner, the sweep callback and the plots talk
to it; nothing else writes to MLflow during training. (Where the store is and how runs are read
back is ``seqlab.experiments.tracking.logged_runs``.)

A training run is MLflow's active run (``start``: MLflow's model logging needs one); a sweep's
parent run is not (``create``): its jobs may run in the same process, each as the active run.
"""

import functools
import logging
import os
import socket
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
import requests
import sqlalchemy
from mlflow.entities import DatasetInput, InputTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from seqlab.experiments.config.validation import ConfigError
from seqlab.experiments.signals import deferred
from seqlab.experiments.tracking.journal import BATCH_LIMIT, MetricJournal
from seqlab.experiments.tracking.secrets import redact
from seqlab.experiments.tracking.store import TrackingUnavailable

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure
    from mlflow.data.dataset import Dataset


log = logging.getLogger(__name__)

HOST_TAG, PID_TAG = "seqlab.host", "seqlab.pid"


def process_tags() -> dict[str, str]:
    """The host and process that record a run, so that a later process can tell when it died."""
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


# How often a write is sent again to a store that could not take it for a moment, each wait
# longer by RETRY_WAIT_S: a sqlite store that another process holds locked (parallel jobs writing
# at once under load), or a server that dropped the connection without an answer.
RETRIES, RETRY_WAIT_S = 8, 0.5


def sent_again_while_refused(write: Callable[[], Any], idempotent: bool = True) -> Any:
    """``write()``, sent again while the store refuses it for a moment, at most ``RETRIES``
    times; any other error at once. A moment's refusal is sqlite's "database is locked" (held by
    another process's transaction longer than sqlite's own five-second wait; the write was rolled
    back) or, for an ``idempotent`` write, a connection an `mlflow server` closed without an
    answer ("Connection aborted": its supervisor restarted the worker, or an idle keep-alive
    connection closed as the request went out). MLflow sends such a write only once, as the
    server may have applied it; most of seqlab's writes are ones the store applies once however
    often they come (the same params, tags, metrics with their timestamps, data set inputs,
    artifact files), unlike one that creates a run, a model or a model version."""
    for attempt in range(RETRIES + 1):
        try:
            return write()
        except (MlflowException, requests.exceptions.ConnectionError, sqlalchemy.exc.OperationalError) as error:
            refused = "database is locked" in str(error) or idempotent and "Connection aborted" in str(error)
            if not refused or attempt == RETRIES:
                raise
            log.info("the tracking store refused a write for a moment (%s); sending it again", redact(str(error))[:200])
            time.sleep(RETRY_WAIT_S * (attempt + 1))


def _whole(write, idempotent: bool = True):
    """A write to the store that SIGTERM or Ctrl-C does not cut in half (``signals.deferred``)
    and that is sent again while the store refuses it for a moment (``sent_again_while_refused``)."""

    @functools.wraps(write)
    def uninterrupted(*args, **kwargs):
        with deferred():
            return sent_again_while_refused(lambda: write(*args, **kwargs), idempotent)

    return uninterrupted


def _creating(write):
    """``_whole`` for a write that creates a model or model version: not sent again after a
    dropped connection, which may have created it."""
    return _whole(write, idempotent=False)


# What a store that does not answer (or is full) raises.
STORE_ERRORS = (MlflowException, requests.exceptions.RequestException, sqlalchemy.exc.OperationalError, OSError)


def _timestamped(values: dict[str, float], step: int | None) -> list[mlflow.entities.Metric]:
    """``values`` as MLflow metrics at ``step`` (0 when None), timestamped now."""
    timestamp = mlflow.utils.time.get_current_time_millis()
    return [mlflow.entities.Metric(k, float(v), timestamp, step or 0) for k, v in values.items()]


class TrackingOutage(ConfigError):
    """The tracking store did not answer for longer than ``tracking.outage_s``; the message
    says what the run kept and the command that sends it and finishes the run."""


class RunRecorder:
    """One MLflow run, recorded through ``MlflowClient`` by its id (``run_id``).

    Per-epoch metrics are kept (``keep``) and sent together (``flush``). With
    ``keep_metrics_through_outages``, metrics that the store does not take go to a local journal
    (``MetricJournal``) and training goes on; they are sent once the store answers again
    (``sync``), and an outage longer than allowed stops the run (``check_outage``, after the
    epoch's checkpoint)."""

    def __init__(self, run_id: str, active: bool):
        self.run_id, self.active = run_id, active
        self.client = MlflowClient()
        self.journal: MetricJournal | None = None
        self.outage_s, self._kept, self._resume = 0.0, "", ""
        self._down_since: float | None = None
        self._unsent: list[mlflow.entities.Metric] = []  # kept by keep() for the next flush()

    @classmethod
    def start(
        cls,
        experiment_id: str,
        run_name: str | None = None,
        parent: str | None = None,
        tags: dict[str, str] | None = None,
        resume: str | None = None,
    ) -> "RunRecorder":
        """Start a run as MLflow's active run (or make run ``resume`` active and RUNNING again),
        as a child of run ``parent`` when given. A stop signal that arrives meanwhile waits for
        the run to exist and then ends it KILLED (no run is left RUNNING); a store that cannot
        create it (a full disk, a lost server) is one TrackingUnavailable naming it."""
        recorder = None
        try:
            with deferred():
                try:
                    run = sent_again_while_refused(
                        lambda: mlflow.start_run(
                            run_id=resume,
                            experiment_id=experiment_id,
                            run_name=run_name,
                            parent_run_id=parent,
                            tags=tags,
                        ),
                        idempotent=False,
                    )
                except STORE_ERRORS as error:
                    uri = redact(mlflow.get_tracking_uri())
                    raise TrackingUnavailable(
                        f"tracking.uri={uri}: the store cannot record a new run "
                        f"({type(error).__name__}: {redact(str(error))[:300]}); is its disk full or its server down?"
                    ) from None
                recorder = cls(run.info.run_id, active=True)
                recorder.tags(process_tags())  # a resumed run is recorded by this process now
        except KeyboardInterrupt:
            if recorder is not None:
                log.warning("stopped as run %s was created: marked KILLED", recorder.run_id)
                recorder.end("KILLED")
            raise
        return recorder

    @classmethod
    def create(cls, experiment_id: str, run_name: str, tags: dict[str, str]) -> "RunRecorder":
        """Create a RUNNING run that is not MLflow's active run (a sweep's parent)."""
        run = sent_again_while_refused(
            lambda: MlflowClient().create_run(experiment_id, run_name=run_name, tags=tags | process_tags()),
            idempotent=False,
        )
        return cls(run.info.run_id, active=False)

    @classmethod
    def reopen(cls, run_id: str, tags: dict[str, str]) -> "RunRecorder":
        """Make the ended run ``run_id`` RUNNING again, recorded by this process (a study's
        parent, which every ``seqlab study`` of the study continues), with ``tags`` added."""
        recorder = cls(run_id, active=False)
        recorder.client.update_run(run_id, status="RUNNING")
        recorder.tags(tags | process_tags())
        return recorder

    @staticmethod
    def fail_orphans(experiment_id: str) -> list[str]:
        """Mark FAILED, with a note, every run of the experiment left RUNNING by a process of
        this host that no longer exists (killed with SIGKILL, or its machine's OOM killer);
        return their ids. Runs of other hosts are left alone: their processes cannot be seen."""
        client, host = MlflowClient(), socket.gethostname()
        running = client.search_runs(
            [experiment_id], filter_string=f"attributes.status = 'RUNNING' and tags.`{HOST_TAG}` = '{host}'"
        )
        orphans = [run for run in running if not _alive(int(run.data.tags.get(PID_TAG, "0")))]
        for run in orphans:
            note = f"its process (pid {run.data.tags[PID_TAG]} on {host}) ended without closing it"
            client.set_tag(run.info.run_id, "seqlab.note", note)
            client.set_terminated(run.info.run_id, "FAILED")
        return [run.info.run_id for run in orphans]

    @property
    def tracking_uri(self) -> str:
        """The store's URI, credentials hidden (for messages)."""
        return redact(self.client.tracking_uri)

    def status(self) -> str:
        """The run's status in the store (RUNNING, FINISHED, FAILED, KILLED)."""
        return self.client.get_run(self.run_id).info.status

    @_whole
    def params(self, values: dict[str, Any]) -> None:
        self.client.log_batch(self.run_id, params=[mlflow.entities.Param(k, str(v)) for k, v in values.items()])

    def metrics(self, values: dict[str, float], step: int | None = None) -> None:
        """Log ``values`` at ``step`` now; with a journal (``keep_metrics_through_outages``),
        keep them there when the store does not answer."""
        with deferred():
            self._send(_timestamped(values, step))

    def keep(self, values: dict[str, float], step: int) -> None:
        """Keep ``values`` of epoch ``step``, timestamped now, for the next ``flush``."""
        self._unsent += _timestamped(values, step)

    def flush(self) -> None:
        """Send the metrics kept since the last flush, in order, as ``metrics`` sends."""
        with deferred():
            metrics, self._unsent = self._unsent, []  # what fails goes to the journal or is raised
            self._send(metrics)

    @_whole
    def _log_metrics(self, batch: list[mlflow.entities.Metric]) -> None:
        self.client.log_batch(self.run_id, metrics=batch)

    def _send(self, metrics: list[mlflow.entities.Metric]) -> None:
        for start in range(0, len(metrics), BATCH_LIMIT):
            batch = metrics[start : start + BATCH_LIMIT]
            if self.journal is None:
                self._log_metrics(batch)
                continue
            if self._down_since is None or self._send_journal():
                try:
                    self._log_metrics(batch)
                    continue
                except STORE_ERRORS as error:
                    self._went_down(error)
            self.journal.append(batch)

    def keep_metrics_through_outages(self, journal: MetricJournal, outage_s: float, kept: str, resume: str) -> None:
        """Keep per-epoch metrics in ``journal`` while the store does not answer, for at most
        ``outage_s`` seconds; an outage stops the run naming what it ``kept`` (its checkpoint)
        and the command that ``resume``s it. Send what the journal holds now (a resumed run's)."""
        self.journal, self.outage_s, self._kept, self._resume = journal, outage_s, kept, resume
        self.sync()

    def _went_down(self, error: Exception) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
            log.warning(
                "the tracking store %s does not answer (%s): training goes on, its metrics kept in %s "
                "for up to tracking.outage_s=%g s",
                self.tracking_uri,
                redact(f"{type(error).__name__}: {error}")[:300],
                self.journal.path,
                self.outage_s,
            )

    def _send_journal(self) -> bool:
        """Send the journal to the store; whether it took it (the store answers again)."""
        metrics = self.journal.entries()
        try:
            for start in range(0, len(metrics), BATCH_LIMIT):
                self._log_metrics(metrics[start : start + BATCH_LIMIT])
                self.journal.replace(metrics[start + BATCH_LIMIT :])
        except STORE_ERRORS as error:
            self._went_down(error)
            return False
        sent = len(metrics)
        if self._down_since is not None or sent:
            log.info("the tracking store took the %d metric values kept while it did not answer", sent)
        self._down_since = None
        return True

    def check_outage(self) -> None:
        """Raise TrackingOutage once the store has not answered for longer than ``outage_s``."""
        if self._down_since is None or time.monotonic() - self._down_since <= self.outage_s:
            return
        epochs = self.journal.steps()
        held = f"the metrics of epochs {epochs[0]}-{epochs[-1]} in {self.journal.path}" if epochs else "no metrics"
        raise TrackingOutage(
            f"tracking.uri={self.tracking_uri}: the store has not answered for "
            f"{time.monotonic() - self._down_since:.0f} s (tracking.outage_s={self.outage_s:g}): run {self.run_id} "
            f"stopped. Kept: {self._kept} and {held}. Once the store answers, `{self._resume}` sends them and "
            "finishes the run"
        )

    def sync(self) -> None:
        """Before writes that cannot wait (the run's results): send the journal, waiting for
        the store while the outage is shorter than ``outage_s``; TrackingOutage
        (``check_outage``) when it does not come back."""
        if self.journal is None:
            return
        while (self._down_since is not None or self.journal.entries()) and not self._send_journal():
            self.check_outage()
            time.sleep(1)

    @_whole
    def tags(self, values: dict[str, Any]) -> None:
        self.client.log_batch(self.run_id, tags=[mlflow.entities.RunTag(k, str(v)) for k, v in values.items()])

    @_whole
    def text(self, text: str, artifact_file: str) -> None:
        self.client.log_text(self.run_id, text, artifact_file)

    @_whole
    def json(self, value: Any, artifact_file: str) -> None:
        self.client.log_dict(self.run_id, value, artifact_file)

    @_whole
    def table(self, table: "pd.DataFrame", artifact_file: str) -> None:
        """Log ``table`` as the JSON table ``artifact_file`` (``{"columns": [...], "data": [[...]]}``,
        shown by the MLflow UI's artifact view)."""
        with warnings.catch_warnings():  # MLflow's own use of pandas, not seqlab's
            warnings.filterwarnings("ignore", message=".*select_dtypes.*")
            self.client.log_table(self.run_id, table, artifact_file)

    @_whole
    def files(self, paths: list[Path]) -> None:
        """Log local files as top-level artifacts of the run."""
        for path in paths:
            self.client.log_artifact(self.run_id, str(path))

    @_whole
    def datasets(self, inputs: list[tuple["Dataset", str]]) -> None:
        """Log MLflow datasets as the run's inputs, each with its context (``train``, ``test``...).

        Two runs of one experiment logging the same data set at once race in MLflow's SQL store
        (each finds it absent, and the second insert breaks the unique key of data sets, rolled
        back): the run that lost logs its inputs once more, and then finds the data set."""
        entities = [
            DatasetInput(dataset._to_mlflow_entity(), [InputTag(MLFLOW_DATASET_CONTEXT, context)])
            for dataset, context in inputs
        ]
        try:
            self.client.log_inputs(self.run_id, datasets=entities)
        except MlflowException as error:
            if "unique constraint" not in str(error).lower():
                raise
            self.client.log_inputs(self.run_id, datasets=entities)

    @_whole
    def folder(self, path: Path, artifact_path: str) -> None:
        """Log the files of the local folder ``path`` under ``artifact_path``."""
        self.client.log_artifacts(self.run_id, str(path), artifact_path)

    @_whole
    def figure(self, figure: "Figure", name: str) -> None:
        """Log ``figure`` as ``plots/<name>.png``."""
        self.client.log_figure(self.run_id, figure, f"plots/{name}.png")

    def metric_history(self, key: str) -> dict[int, float]:
        """The values of metric ``key`` by step."""
        return {m.step: m.value for m in self.client.get_metric_history(self.run_id, key)}

    @_creating
    def pyfunc_model(self, name: str, **log_model_args: Any) -> None:
        """Log an MLflow pyfunc model ``name`` (``mlflow.pyfunc.log_model``'s arguments)."""
        if not self.active:
            raise RuntimeError(f"run {self.run_id} is not MLflow's active run: it cannot log a model")
        with warnings.catch_warnings():  # an input example would cost a compile at every run's end
            warnings.filterwarnings("ignore", message=".*An input example was not provided")
            mlflow.pyfunc.log_model(name=name, **log_model_args)

    @_creating
    def register_model(self, model: str, name: str) -> str:
        """Register the run's logged model ``model`` in the model registry as ``name``; return
        the new version."""
        return mlflow.register_model(f"runs:/{self.run_id}/{model}", name).version

    def end(self, status: str) -> None:
        """End the run with ``status`` (FINISHED, FAILED or KILLED) unless it has ended."""
        if self.active:
            sent_again_while_refused(lambda: mlflow.end_run(status))
        elif self.status() == "RUNNING":
            sent_again_while_refused(lambda: self.client.set_terminated(self.run_id, status))

    def __enter__(self) -> "RunRecorder":
        return self

    def __exit__(self, kind, error, traceback) -> None:
        """FINISHED on success, KILLED on Ctrl-C, FAILED on any other exception. When the store
        cannot take the status of a run that raised (a full disk, a lost server), say so and let
        the run's own error through: the next command on this host marks the run FAILED."""
        status = "FINISHED" if kind is None else "KILLED" if issubclass(kind, KeyboardInterrupt) else "FAILED"
        try:
            self.end(status)
        except Exception as failure:
            if kind is None:
                raise
            log.warning(
                "run %s could not be marked %s in %s (%s); the next seqlab run on this host marks it FAILED",
                self.run_id,
                status,
                self.tracking_uri,
                failure,
            )

"""A job on SLURM (``hydra/launcher=slurm``, through submitit): which job this process is, and
how a preempted or timed-out job goes on by itself.

SLURM stops a job with SIGTERM when it is preempted (``PreemptMode=REQUEUE``, or ``scancel
--signal=TERM``) and with SIGUSR2 ``hydra.launcher.signal_delay_s`` before its time limit (the
``--signal`` submitit asks for). Either stops the run like any stop signal
(``seqlab.experiments.signals``): checkpointed after its last whole epoch and marked KILLED, the
signal in its ``seqlab.stopped_by`` tag. Then ``requeue`` hands over to submitit's own handler,
which requeues the job (``scontrol requeue``; a time limit at most
``hydra.launcher.max_num_timeout`` times) and ends the process. The requeued job keeps its SLURM
job id; the runner finds the KILLED run of that job (tagged ``SLURM_JOB_TAG`` when it was
created) and resumes it from its checkpoint, into the same MLflow run.
"""

import logging
import os
import signal
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

# The tag that names a run's SLURM job, ``<cluster>:<job id>``.
SLURM_JOB_TAG = "seqlab.slurm_job"
# How often the job had been requeued when it last trained the run.
RESTARTS_TAG = "seqlab.slurm_restarts"
# The signals after which a job is requeued: preemption's and the time limit's.
REQUEUE_SIGNALS = (signal.SIGTERM, signal.SIGUSR2)
# What submitit binds SIGUSR2 to in the jobs it starts.
SUBMITIT_HANDLER = "checkpoint_and_try_requeue"


def slurm_job() -> str | None:
    """``<cluster>:<job id>`` of the SLURM job this process runs in (an array task as
    ``<array job id>_<task id>``, as ``squeue`` and ``sacct`` show it), the same after a
    requeue; None outside SLURM."""
    env = os.environ
    if "SLURM_JOB_ID" not in env:
        return None
    task = env.get("SLURM_ARRAY_TASK_ID")
    job = f"{env['SLURM_ARRAY_JOB_ID']}_{task}" if task is not None else env["SLURM_JOB_ID"]
    return f"{env.get('SLURM_CLUSTER_NAME', 'slurm')}:{job}"


def restarts() -> int:
    """How often SLURM has requeued this process's job (0 outside SLURM)."""
    return int(os.environ.get("SLURM_RESTART_COUNT", "0"))


def job_tags() -> dict[str, str]:
    """The tags that tie a run to its SLURM job and say how often the job was requeued (none
    outside SLURM)."""
    job = slurm_job()
    return {SLURM_JOB_TAG: job, RESTARTS_TAG: str(restarts())} if job else {}


def requeue(signum: int, handlers: dict[int, Callable[..., Any] | int | None]) -> None:
    """After a stop by ``signum`` has been recorded: where this process is a SLURM job that
    submitit started (``handlers``, the signal handlers ``stop_cleanly`` replaced, bind SIGUSR2
    to submitit's; jobs of its local executor are left alone) and ``signum`` is preemption's or
    the time limit's (``REQUEUE_SIGNALS``), call submitit's handler, which requeues the job and
    ends the process with ``sys.exit``, or raises submitit's ``UncompletedJobError`` saying why
    it will not (timed out too often). Returns at once otherwise."""
    handler = handlers.get(signal.SIGUSR2)
    submitit_job = getattr(handler, "__name__", None) == SUBMITIT_HANDLER
    if signum not in REQUEUE_SIGNALS or not submitit_job or slurm_job() is None:
        return
    name = signal.Signals(signum).name
    log.warning(
        "SLURM job %s stopped by %s: asking submitit to requeue it, to resume from its checkpoint", slurm_job(), name
    )
    handler(signal.SIGUSR2, None)

"""Real servers on 127.0.0.1 for the tests, each built in a temporary folder and stopped
afterwards: a PostgreSQL cluster, an `mlflow server`, a single-node SLURM cluster (munge,
MariaDB, slurmdbd, slurmctld, slurmd) and a local Ray head. Each skips its test, naming the
Debian package to install, where its programs are missing (``.ci/run`` installs them)."""

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(url: str, server: subprocess.Popen, what: str, timeout_s: float = 300) -> None:
    """Poll ``url`` until it answers 2xx, for at most ``timeout_s`` (generous: a busy machine
    starts servers slowly); fail if ``server`` exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    while True:
        assert server.poll() is None, f"{what} exited with status {server.returncode}"
        try:
            if requests.get(url, timeout=10).ok:
                return
        except requests.RequestException:  # not listening yet, or too busy to answer in time
            pass
        assert time.monotonic() < deadline, f"{what} did not answer {url} within {timeout_s} s"
        time.sleep(1)


@contextmanager
def serve_mlflow(backend_uri: str, folder: Path, port: int | None = None) -> Iterator[str]:
    """An `mlflow server` on 127.0.0.1 (``port``, else a free one) with the backend store
    ``backend_uri`` that serves artifacts from ``folder``; its URI. Stopped, with its workers,
    afterwards."""
    port = port or free_port()
    uri = f"http://127.0.0.1:{port}"
    with open(folder / "server.log", "a") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
            + ["--backend-store-uri", backend_uri, "--serve-artifacts", "--artifacts-destination", str(folder / "art")],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_serving(f"{uri}/health", server, f"mlflow server (log: {folder / 'server.log'})")
        yield uri
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


@contextmanager
def dropping_proxy(target: str, drops: dict[bytes, int]) -> Iterator[str]:
    """A TCP proxy on 127.0.0.1 to the HTTP server ``target`` that closes the connection,
    without an answer and without passing the request on, of the first ``drops[marker]``
    requests whose bytes hold ``marker`` (as a server does whose worker is restarted); its URI."""
    upstream_address = (urlsplit(target).hostname, urlsplit(target).port)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    left, stopping = dict(drops), threading.Event()

    def pipe(source: socket.socket, sink: socket.socket, requests_flow: bool) -> None:
        try:
            while chunk := source.recv(1 << 16):
                dropped = [marker for marker, count in left.items() if requests_flow and count and marker in chunk]
                if dropped:
                    left[dropped[0]] -= 1
                    break
                sink.sendall(chunk)
        except OSError:  # the other direction closed both
            pass
        finally:
            source.close()
            sink.close()

    def serve() -> None:
        while not stopping.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            client.settimeout(None)
            upstream = socket.create_connection(upstream_address)
            threading.Thread(target=pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=pipe, args=(upstream, client, False), daemon=True).start()

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stopping.set()
        server.join()
        listener.close()


def postgres_bin() -> Path | None:
    """The folder of PostgreSQL's server programs (Debian keeps them off the PATH), or None."""
    found = shutil.which("pg_ctl") or max(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), default=None)
    return Path(found).resolve().parent if found else None


@contextmanager
def postgres_cluster() -> Iterator[str]:
    """A private PostgreSQL cluster on 127.0.0.1 (``initdb`` and ``pg_ctl`` in a temporary
    folder); the SQLAlchemy URI of its database ``mlflow``. As root, the cluster belongs to the
    user ``postgres``: PostgreSQL refuses to run as root."""
    programs = postgres_bin()
    if programs is None:
        pytest.skip("PostgreSQL's initdb and pg_ctl are not installed (Debian: apt-get install postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="seqlab-pg-"))
    as_owner = []
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    port = free_port()

    def pg(program: str, *args: str) -> None:
        done = subprocess.run([*as_owner, str(programs / program), *args], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{program} failed: {done.stdout}{done.stderr}"

    pg("initdb", "-D", f"{folder}/data", "-U", "seqlab", "--auth=trust", "-E", "UTF8")
    options = f"-h 127.0.0.1 -p {port} -k {folder}"
    pg("pg_ctl", "-D", f"{folder}/data", "-o", options, "-l", f"{folder}/postgres.log", "-w", "-t", "300", "start")
    try:
        pg("createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "seqlab", "mlflow")
        yield f"postgresql://seqlab@127.0.0.1:{port}/mlflow"
    finally:
        pg("pg_ctl", "-D", f"{folder}/data", "-m", "fast", "-w", "stop")
        shutil.rmtree(folder)


# The programs a single-node SLURM cluster needs, and the Debian packages that have them.
SLURM_PROGRAMS = {
    "munged": "munge",
    "mungekey": "munge",
    "mariadb-install-db": "mariadb-server",
    "mariadbd": "mariadb-server",
    "slurmdbd": "slurmdbd",
    "slurmctld": "slurmctld",
    "slurmd": "slurmd",
    "sbatch": "slurm-client",
    "sacct": "slurm-client",
}
SLURM_CLUSTER_NAME = "seqlab"
# How long a daemon may take to start on a busy machine.
START_TIMEOUT_S = 300

# cred_expire: a requeued job waits this long before it starts again (120 s by default).
# AccountingStoragePass: the munge socket the accounting daemon's clients use.
SLURM_CONF = """\
ClusterName={cluster}
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={folder}/munge.socket,cred_expire=10
CredType=cred/munge
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort={dbd_port}
AccountingStoragePass={folder}/munge.socket
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
KillWait=10
SchedulerParameters=sched_interval=2
NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=16000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""

SLURMDBD_CONF = """\
AuthType=auth/munge
AuthInfo=socket={folder}/munge.socket
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort={dbd_port}
SlurmUser=root
PidFile={folder}/slurmdbd.pid
LogFile={folder}/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort={db_port}
StorageUser=root
StorageLoc=slurm_acct_db
"""


def wait_until(condition, what: str, logs: list[Path], timeout_s: float = START_TIMEOUT_S):
    """Poll ``condition()`` until it returns something true, and return that; fail saying
    ``what`` did not happen, with the tails of ``logs``, once ``timeout_s`` (generous: a busy
    machine) passes."""
    deadline = time.monotonic() + timeout_s
    while not (found := condition()):
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {log}\n{log.read_text()[-3000:] if log.exists() else '(none)'}" for log in logs)
            pytest.fail(f"{what} within {timeout_s} s\n{tails}")
        time.sleep(0.5)
    return found


def _daemon(
    stack: ExitStack, log: Path, command: list[str], env: dict[str, str], stop_signal: int = signal.SIGTERM
) -> None:
    """Start ``command`` (a daemon in the foreground) in a new session, its output in ``log``;
    stopped when ``stack`` closes: ``stop_signal`` to its process group, then SIGKILL after 60 s."""
    with open(log, "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env)

    def stop() -> None:
        os.killpg(process.pid, stop_signal)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    stack.callback(stop)


def slurm_answers(env: dict[str, str], *command: str) -> str:
    """What the SLURM command ``command`` prints when it succeeds, else an empty string."""
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    return done.stdout if done.returncode == 0 else ""


@contextmanager
def slurm_cluster(folder: Path) -> Iterator[dict[str, str]]:
    """A single-node SLURM cluster on 127.0.0.1, as root, whose configuration, state and logs
    live in ``folder``: munged with its own key and socket, MariaDB for the accounting
    database, slurmdbd, slurmctld and slurmd. Yields the environment (this process's, with
    ``SLURM_CONF``) under which ``sbatch``, ``squeue``, ``sacct`` and ``scontrol``, and
    submitit, which calls them, reach it. Every daemon is stopped afterwards."""
    missing = sorted({package for program, package in SLURM_PROGRAMS.items() if not shutil.which(program)})
    if missing:
        pytest.skip(f"a SLURM cluster needs Debian's {', '.join(missing)} (apt-get install {' '.join(missing)})")
    if os.geteuid() != 0:
        pytest.skip("the single-node SLURM cluster runs its daemons as root")
    for sub in ("state", "spool", "db"):
        (folder / sub).mkdir(parents=True)
    ports = {"ctld_port": free_port(), "slurmd_port": free_port(), "dbd_port": free_port(), "db_port": free_port()}
    values = {"folder": folder, "cluster": SLURM_CLUSTER_NAME, "cpus": os.cpu_count(), **ports}
    (folder / "slurm.conf").write_text(SLURM_CONF.format(**values))
    (folder / "slurmdbd.conf").write_text(SLURMDBD_CONF.format(**values))  # found beside slurm.conf
    (folder / "slurmdbd.conf").chmod(0o600)  # slurmdbd refuses a config others can read
    env = os.environ.copy() | {"SLURM_CONF": str(folder / "slurm.conf")}
    logs = [folder / name for name in ("munged.log", "mariadb.log", "slurmdbd.log", "slurmctld.log", "slurmd.log")]
    subprocess.run(["mungekey", "--create", f"--keyfile={folder / 'munge.key'}"], check=True)
    subprocess.run(
        ["mariadb-install-db", f"--datadir={folder / 'db'}", "--user=root", "--auth-root-authentication-method=normal"]
        + ["--skip-test-db"],
        check=True,
        capture_output=True,
    )
    with ExitStack() as stack:
        munge = ["munged", "--foreground", "--force", f"--key-file={folder / 'munge.key'}"]
        munge += [f"--socket={folder / 'munge.socket'}", f"--pid-file={folder / 'munged.pid'}"]
        munge += [f"--log-file={folder / 'munged.log'}", f"--seed-file={folder / 'munged.seed'}"]
        _daemon(stack, folder / "munged.out", munge, env)
        mariadb = ["mariadbd", f"--datadir={folder / 'db'}", "--user=root", "--skip-grant-tables"]
        mariadb += ["--bind-address=127.0.0.1", f"--port={ports['db_port']}", f"--socket={folder / 'mariadb.socket'}"]
        _daemon(stack, folder / "mariadb.log", mariadb, env)
        wait_until(
            lambda: "ready for connections" in (folder / "mariadb.log").read_text(), "MariaDB did not start", logs
        )
        _daemon(stack, folder / "slurmdbd.out", ["slurmdbd", "-D"], env)
        wait_until(lambda: slurm_answers(env, "sacctmgr", "-n", "list", "qos"), "slurmdbd did not answer", logs)
        _daemon(stack, folder / "slurmctld.out", ["slurmctld", "-D"], env)
        _daemon(stack, folder / "slurmd.out", ["slurmd", "-D", "-N", "localhost"], env)
        wait_until(
            lambda: slurm_answers(env, "sinfo", "-h", "-o", "%T").strip() == "idle",
            "the node did not become idle",
            logs,
        )
        yield env


@contextmanager
def ray_head() -> Iterator[str]:
    """A Ray head on 127.0.0.1 (``ray start --head --block``, the CLI of this interpreter's
    environment, stopped by its process group), with 2 CPUs; its address ``127.0.0.1:<port>``.
    Its session folder is short-named under /tmp: Ray's sockets must fit the 107 characters of
    a Unix socket path."""
    ray = Path(sys.executable).parent / "ray"
    if not ray.exists():
        pytest.skip("Ray is not installed (pip install -e '.[ray]')")
    folder = Path(tempfile.mkdtemp(prefix="ray-"))
    port = free_port()
    address = f"127.0.0.1:{port}"
    command = [str(ray), "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}"]
    command += ["--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={folder}"]
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, folder, ignore_errors=True)
        # Ctrl-C is how `ray start --block` is told to stop its processes (it sits out SIGTERM).
        env = os.environ | {"RAY_USAGE_STATS_ENABLED": "0"}
        _daemon(stack, folder / "head.log", command, env, stop_signal=signal.SIGINT)
        status = [str(ray), "status", f"--address={address}"]
        wait_until(
            lambda: subprocess.run(status, capture_output=True, timeout=120).returncode == 0,
            "the Ray head did not answer",
            [folder / "head.log"],
        )
        yield address

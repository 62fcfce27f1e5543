"""Training-step speed of seqlab against PyTorch's CPU RNNs, on identical data and weights.

    .venv/bin/pip install torch==2.13.0      # optional benchmark dependency (CPU build)
    .venv/bin/python -m benchmarks.train_step [--rounds 4] [--steps 10] [--cells ...] [--shapes ...]
        [--dtypes ...] [--scan] [--compile] [--startup] [--sweep] [--no-steps] [--environment-kernels]

One training step = forward over the sequence, softmax cross-entropy on the last state,
gradients, and an SGD update. Each implementation runs in a process of its own (sharing one
process, PyTorch's OpenMP threads slowed seqlab's steps up to 8x); they are measured
interleaved, round by round, and the table reports medians: step time, sequences per second,
GFLOP/s (matrix products only, forward + backward = 3x forward), its share of the machine's
GEMM peak (a 2048² product on NumPy's BLAS, measured first), the ratio PyTorch / seqlab (>= 1:
seqlab is as fast; taken per round, then the median, as the machine's speed may drift between
rounds) and each process's peak RSS over the timed steps.

The environment of some machines sets OPENBLAS_CORETYPE (and OPENBLAS_L2_SIZE), which pins
OpenBLAS to older kernels; a user's machine does not. The measurement processes run with both
unset (this process keeps them), unless ``--environment-kernels``; each prints the BLAS kernels
that ran (threadpoolctl).
PyTorch's GRU puts the reset gate after the recurrent product (r * (h U + b)); seqlab's follows
Cho et al. ((r * h) U): same cost, slightly different maths, so its weights are copied but its
losses differ.
"""

import argparse
import contextlib
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from seqlab.engine import blas_libraries, configure, set_float_dtype
from seqlab.experiments.training.builders import default_network_spec, default_optimizer_spec
from seqlab.models.cells import CELLS, get_cell
from seqlab.models.classifier import SequenceClassifier
from seqlab.models.network import init_network_params
from seqlab.paths import checkout_root

PROJECT_ROOT = checkout_root()

INPUTS, CLASSES, LR = 16, 4, 0.01
PAUSE_S = 0.5
# Set by some machines' environment to pin OpenBLAS's kernels; unset in measurement processes.
KERNEL_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
SHAPES = ("B64/L50/H128", "B64/L50/H512", "B1/L50/H128", "B256/L200/H256")


def parse_shape(shape: str) -> tuple[int, int, int]:
    """``'B64/L50/H128'`` -> (64, 50, 128): batch, length, hidden size."""
    match = re.fullmatch(r"B(\d+)/L(\d+)/H(\d+)", shape)
    if match is None:
        raise argparse.ArgumentTypeError(f"{shape!r}: expected B<batch>/L<length>/H<hidden>, e.g. B64/L50/H128")
    batch, length, hidden = (int(group) for group in match.groups())
    return batch, length, hidden


@contextlib.contextmanager
def kernel_environment(native: bool):
    """Processes started inside run without ``KERNEL_VARIABLES`` when ``native`` (as on a
    user's machine); this process's own environment is restored on leaving."""
    saved = {name: os.environ.pop(name) for name in KERNEL_VARIABLES if native and name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def peak_rss_mb() -> float:
    """This process's peak resident memory since the last ``reset_peak_rss`` (Linux VmHWM)."""
    with open("/proc/self/status") as status:
        kilobytes = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    return kilobytes / 1024


def reset_peak_rss() -> None:
    """Start the peak resident memory afresh from the current one (Linux: clear_refs 5)."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def make_batch(batch: int, length: int, dtype: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, length, INPUTS)).astype(dtype)
    y = rng.integers(0, CLASSES, size=batch).astype("int32")
    return x, np.ones((batch, length), dtype), y


def seqlab_step(cell: str, hidden: int, dtype: str, implementation: str, params):
    configure()
    set_float_dtype(dtype)
    spec = default_network_spec(CLASSES, INPUTS, model=cell, hidden_size=hidden, implementation=implementation)
    model = SequenceClassifier(spec, params, default_optimizer_spec("sgd", lr=LR), dtype=dtype)
    return lambda x, mask, y: model.train_step(x, mask, y)


def copy_weights(params: dict, rnn, out) -> None:
    """Give PyTorch's one-layer ``rnn`` and its ``out`` layer seqlab's ``params`` (its gates
    are in PyTorch's order). seqlab has one bias where PyTorch has two: the second is zero and
    frozen, so that both train the same parameters (with Adam, two biases fed the same gradient
    would move twice as far)."""
    import torch

    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.from_numpy(params["rnn0_fwd_W"].T.copy()))
        rnn.weight_hh_l0.copy_(torch.from_numpy(params["rnn0_fwd_U"].T.copy()))
        rnn.bias_ih_l0.copy_(torch.from_numpy(params["rnn0_fwd_b"]))
        rnn.bias_hh_l0.zero_()
        out.weight.copy_(torch.from_numpy(params["out_W"].T.copy()))
        out.bias.copy_(torch.from_numpy(params["out_b"]))
    rnn.bias_hh_l0.requires_grad_(False)


# The PyTorch module of each registered cell that has one; a cell without a twin (a cell a user
# registered) is left out of the tables, with a line on standard error.
TORCH_TWINS = {"elman": "RNN", "lstm": "LSTM", "gru": "GRU"}


def torch_step(cell: str, hidden: int, dtype: str, params):
    import torch

    # PyTorch's own default, all cores: it would take seqlab's single-threaded MKL setting,
    # made when seqlab is imported, as its own.
    torch.set_num_threads(os.cpu_count())
    torch_dtype = getattr(torch, dtype)
    rnn_class = getattr(torch.nn, TORCH_TWINS[cell])
    rnn = rnn_class(INPUTS, hidden, batch_first=True, dtype=torch_dtype)
    out = torch.nn.Linear(hidden, CLASSES, dtype=torch_dtype)
    copy_weights(params, rnn, out)
    optimizer = torch.optim.SGD([*rnn.parameters(), *out.parameters()], lr=LR)

    def step(x, mask, y):
        optimizer.zero_grad()
        states, _ = rnn(torch.from_numpy(x))
        loss = torch.nn.functional.cross_entropy(out(states[:, -1]), torch.from_numpy(y).long())
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def flops(cell: str, batch: int, length: int, hidden: int) -> float:
    gates = get_cell(cell).num_gates
    forward = 2 * batch * length * (INPUTS + hidden) * gates * hidden
    return 3 * forward


def measure(step, batch, steps: int) -> float:
    """Median seconds of one step over ``steps`` calls.

    First a pause and an untimed step: the thread pools of the implementation measured before,
    in another process, may spin for a while after its last step.
    """
    time.sleep(PAUSE_S)
    step(*batch)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step(*batch)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def serve(connection, step, batch) -> None:
    """Run ``step`` once on ``batch`` (compiling, warming caches) and send its result and the
    BLAS kernels loaded, then time ``steps`` steps whenever asked; on None, send the peak RSS
    over the timed steps (MB) and end."""
    connection.send({"first": step(*batch), "blas": blas_libraries()})
    reset_peak_rss()
    while (steps := connection.recv()) is not None:
        connection.send(measure(step, batch, steps))
    connection.send(peak_rss_mb())


def _worker(connection, impl: str, cell: str, shape: str, dtype: str) -> None:
    """Build one implementation in this process and serve its timings. Each implementation has
    a process of its own, so that neither runs beside the other's thread pools."""
    batch_size, length, hidden = parse_shape(shape)
    batch = make_batch(batch_size, length, dtype)
    spec = default_network_spec(CLASSES, INPUTS, model=cell, hidden_size=hidden)
    params = {k: v.astype(dtype) for k, v in init_network_params(spec, seed=0).items()}
    if impl == "pytorch":
        step = torch_step(cell, hidden, dtype, params)
    else:
        step = seqlab_step(cell, hidden, dtype, impl.removeprefix("seqlab "), params)
    serve(connection, step, batch)


def interleaved(target, impls: list[str], extra: tuple, rounds: int, steps: int, native: bool = True):
    """Start ``target(connection, impl, *extra)`` (which calls ``serve``) in a spawned process
    per implementation (with native kernels: ``kernel_environment``), time them in turn for
    ``rounds`` rounds of ``steps`` steps, and return each one's median step time per round in
    seconds (an array over rounds) and what it reported: its first step's result (``first``),
    BLAS kernels (``blas``) and peak RSS over the timed steps (``peak_rss_mb``)."""
    context = multiprocessing.get_context("spawn")
    workers = {}
    with kernel_environment(native):
        for impl in impls:
            ours, theirs = context.Pipe()
            process = context.Process(target=target, args=(theirs, impl, *extra))
            process.start()
            theirs.close()  # so a worker that dies is an EOFError here, not a wait
            workers[impl] = (ours, process)
    try:
        reports = {impl: connection.recv() for impl, (connection, _) in workers.items()}
        medians = {impl: [] for impl in impls}
        for _ in range(rounds):
            for impl, (connection, _) in workers.items():
                connection.send(steps)
                medians[impl].append(connection.recv())
        for impl, (connection, process) in workers.items():
            connection.send(None)
            reports[impl]["peak_rss_mb"] = connection.recv()
            process.join()
    finally:  # a worker that failed leaves the others waiting for orders: end them
        for _, process in workers.values():
            if process.is_alive():
                process.terminate()
    return {impl: np.array(values) for impl, values in medians.items()}, reports


def median_and_ratio(rounds: dict[str, np.ndarray], impl: str) -> tuple[float, float]:
    """``impl``'s median step time over ``rounds`` (``interleaved``'s first result), and the
    median over rounds of PyTorch's step time divided by its own in the same round: both were
    measured seconds apart, so the ratio holds when a shared machine's speed drifts between
    rounds (``docs/performance.md``)."""
    times = rounds[impl]
    return float(np.median(times)), float(np.median(rounds["pytorch"] / times))


def _gemm_worker(connection, dtype: str) -> None:
    """Send the best GFLOP/s of a 2048² product on NumPy's BLAS, and the kernels that ran."""
    a = np.random.default_rng(0).standard_normal((2048, 2048)).astype(dtype)
    best = min(_timed(lambda: a @ a) for _ in range(6))
    connection.send((2 * 2048**3 / best / 1e9, blas_libraries()))


def _timed(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def run_in_process(target, *args, native: bool = True):
    """``target(connection, *args)`` in a spawned process with native kernels (or the
    environment's: ``kernel_environment``): what it sends on ``connection``, once it has exited.
    A worker that dies before sending is an ``EOFError`` here, not a wait."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    with kernel_environment(native):
        process = context.Process(target=target, args=(theirs, *args))
        process.start()
    theirs.close()
    try:
        return ours.recv()
    finally:
        process.join()


def gemm_peak(dtype: str, native: bool) -> tuple[float, str]:
    """The machine's GEMM peak in GFLOP/s for ``dtype`` (in a process of its own, with the
    kernels the measurements use) and the BLAS that reached it."""
    return run_in_process(_gemm_worker, dtype, native=native)


def step_table(args) -> tuple[pd.DataFrame, set[str]]:
    """The ratio table, and the BLAS kernels each measurement process reported."""
    rows, kernels = [], set()
    impls = ["seqlab fused", *(["seqlab scan"] if args.scan else []), "pytorch"]
    native = not args.environment_kernels
    for dtype in args.dtypes:
        peak, blas = gemm_peak(dtype, native)
        kernels.add(f"GEMM 2048² {dtype}: {peak:.1f} GFLOP/s on {blas}")
        for shape in args.shapes:
            batch, length, hidden = parse_shape(shape)
            for cell in args.cells:
                rounds, reports = interleaved(_worker, impls, (cell, shape, dtype), args.rounds, args.steps, native)
                for name in rounds:
                    seconds, ratio = median_and_ratio(rounds, name)
                    gflops = flops(cell, batch, length, hidden) / seconds / 1e9
                    kernels.add(f"{name}: {reports[name]['blas']}")
                    rows.append(
                        {
                            "cell": cell,
                            "dtype": dtype,
                            "shape": shape,
                            "impl": name,
                            "step_ms": round(seconds * 1e3, 2),
                            "seq_per_s": round(batch / seconds),
                            "GFLOP/s": round(gflops, 1),
                            "of_peak": f"{gflops / peak:.0%}",
                            "pytorch/seqlab": round(ratio, 2),
                            "peak_rss_MB": round(reports[name]["peak_rss_mb"]),
                        }
                    )
                print(f"  measured {cell} {dtype} {shape}", file=sys.stderr, flush=True)
    return pd.DataFrame(rows), kernels


COMPILE_PROBE = """
import time, numpy as np
from benchmarks.train_step import make_batch, seqlab_step
from seqlab.experiments.training.builders import default_network_spec
from seqlab.models.network import init_network_params
spec = default_network_spec(4, 16, model="{cell}", hidden_size=128)
step = seqlab_step("{cell}", 128, "float32", "fused", init_network_params(spec, seed=0))
start = time.perf_counter(); step(*make_batch(64, 50, "float32")); print(time.perf_counter() - start)
"""


def compile_table() -> pd.DataFrame:
    """Seconds to compile and run the first train step, in a new process: cold (empty compile
    directory) and warm (its second run)."""
    rows = []
    for cell in TORCH_TWINS:
        with tempfile.TemporaryDirectory() as cache:  # compile directories of its own per cell
            env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={cache}", "NUMBA_CACHE_DIR": f"{cache}/numba"}
            for state in ("cold", "warm"):
                result = subprocess.run(
                    [sys.executable, "-c", COMPILE_PROBE.format(cell=cell)],
                    cwd=PROJECT_ROOT,
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                rows.append({"cell": cell, "cache": state, "compile_s": round(float(result.stdout.split()[-1]), 1)})
    return pd.DataFrame(rows)


DEFAULT_EXPERIMENT = (
    "-m",
    "seqlab.experiments.train",
    "trainer.progress=false",
    "tracking.experiment_name=benchmark",
    "hydra.verbose=seqlab.experiments.training.runner",  # its debug line after the first training step
)
PREDICT_PROBE = """
import mlflow, pandas as pd
model = mlflow.pyfunc.load_model("runs:/{run_id}/model")
print("predicted", model.predict(pd.DataFrame({{"sequence": [list("10110100")]}}))["prediction"].tolist(), flush=True)
"""


def seconds_to_lines(arguments: tuple[str, ...], env: dict, patterns: dict[str, str]) -> tuple[dict, list[str]]:
    """Run Python with ``arguments`` in a new process; return the seconds from its launch to
    every output line matching each of ``patterns`` (name -> list, in order; regexes) and to
    its exit (``exit``, a number), and its output lines."""
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, *arguments],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seconds, lines = {}, []
    for line in process.stdout:
        lines.append(line)
        for name, pattern in patterns.items():
            if re.search(pattern, line):
                seconds.setdefault(name, []).append(time.perf_counter() - start)
    if process.wait() != 0:
        raise RuntimeError(f"{' '.join(arguments)} failed:\n{''.join(lines[-20:])}")
    return seconds | {"exit": time.perf_counter() - start}, lines


def logged_run(lines: list[str]) -> tuple[str, str]:
    """The run id and tracking URI a ``seqlab train`` process logged among its output ``lines``."""
    return next(match.groups() for line in lines if (match := re.search(r"MLflow run (\w+) in (\S+)", line)))


def startup_table() -> pd.DataFrame:
    """The default experiment from launch, with an empty compile cache (cold) and again with
    the cache it filled (warm): seconds to its first training step and to its exit. Then its
    logged model (MLflow pyfunc) loaded in a new process: seconds from launch to the first
    prediction, twice (the first load may compile the prediction function)."""
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={cache}", "NUMBA_CACHE_DIR": f"{cache}/numba"}
        for state in ("cold", "warm"):
            seconds, lines = seconds_to_lines(DEFAULT_EXPERIMENT, env, {"first_step": "first training step done"})
            rows.append(
                {
                    "what": f"default experiment, {state} cache",
                    "first_step_s": seconds["first_step"][0],
                    "exit_s": seconds["exit"],
                }
            )
        run_id, store = logged_run(lines)
        for load in ("first", "second"):
            probe = ("-c", PREDICT_PROBE.format(run_id=run_id))
            seconds, _ = seconds_to_lines(probe, env | {"MLFLOW_TRACKING_URI": store}, {"prediction": "^predicted"})
            rows.append({"what": f"logged model, {load} load", "first_prediction_s": seconds["prediction"][0]})
    return pd.DataFrame(rows).round(2)


SWEEP = (
    "-m",
    "seqlab.experiments.train",
    "-m",
    "hydra/launcher=joblib",
    "hydra.launcher.n_jobs=4",
    "seed=0,1,2,3",
    "trainer.epochs=1",
    "trainer.progress=false",
)
NEW_MODULES = r"compiled the .+ in [\d.]+ s \((\d+) new C modules"  # seqlab.models.compiling's notice


def sweep_table() -> pd.DataFrame:
    """A 4-job joblib sweep (the default experiment, seeds 0-3, one epoch each, four processes
    at once) on an empty compile cache: the C modules each job compiled (from its log), their
    sum, and the modules in the cache afterwards. The sum equals the cache's count when no
    module was compiled twice; the jobs build the same graphs, so it also equals what one job
    alone compiles. And the sweep's seconds from launch to exit."""
    with tempfile.TemporaryDirectory() as folder:
        cache = Path(folder, "cache")
        env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={cache}", "NUMBA_CACHE_DIR": f"{cache}/numba"}
        where = (
            f"tracking.uri=sqlite:///{folder}/mlflow.db",
            f"tracking.artifact_root={folder}/artifacts",
            f"trainer.checkpoint_dir={folder}/checkpoints",
            f"hydra.sweep.dir={folder}/sweep",
        )
        seconds, _ = seconds_to_lines((*SWEEP, *where), env, {})
        jobs = sorted(Path(folder, "sweep").glob("*/*.log"))
        compiled = [sum(int(n) for n in re.findall(NEW_MODULES, log.read_text())) for log in jobs]
        cached = len(list(cache.glob("compiledir_*/tmp*/*.so")))
    return pd.DataFrame(
        [
            {
                "jobs": len(jobs),
                "compiled_per_job": " ".join(map(str, compiled)),
                "compiled_total": sum(compiled),
                "modules_in_cache": cached,
                "sweep_s": round(seconds["exit"], 1),
            }
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=10)
    twins = [cell for cell in CELLS if cell in TORCH_TWINS]
    parser.add_argument("--cells", nargs="+", default=twins, choices=twins)
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), help="B<batch>/L<length>/H<hidden> each")
    parser.add_argument(
        "--environment-kernels",
        action="store_true",
        help=f"keep {' and '.join(KERNEL_VARIABLES)} in the measurement processes",
    )
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    parser.add_argument("--scan", action="store_true", help="also time the scan reference")
    parser.add_argument("--compile", action="store_true", help="also time cold and warm compiles")
    parser.add_argument(
        "--startup", action="store_true", help="also time the default experiment's start-up and its model's load"
    )
    parser.add_argument(
        "--sweep", action="store_true", help="also count the C modules a 4-job joblib sweep compiles on a cold cache"
    )
    parser.add_argument("--no-steps", action="store_true", help="skip the training-step table")
    args = parser.parse_args()
    untwinned = sorted(set(CELLS) - set(TORCH_TWINS))
    if untwinned:
        print(f"skipped: {untwinned}: no PyTorch twin to measure against", file=sys.stderr)
    for shape in args.shapes:
        parse_shape(shape)
    configure()
    if not args.no_steps:
        table, kernels = step_table(args)
        kept = ", ".join(f"{name}={os.environ[name]}" for name in KERNEL_VARIABLES if name in os.environ)
        where = "kept" if args.environment_kernels else "unset in the measurement processes"
        print(f"environment: {kept or 'no kernel variables set'} ({where})")
        print("BLAS in the measurement processes:\n  " + "\n  ".join(sorted(kernels)))
        print("training step, medians of interleaved rounds:\n" + table.to_string(index=False))
    if args.compile:
        print("\ncompile and first step in a new process:\n" + compile_table().to_string(index=False))
    if args.startup:
        print("\nstart-up, seconds from launch:\n" + startup_table().to_string(index=False, na_rep=""))
    if args.sweep:
        print("\n4-job joblib sweep on a cold compile cache:\n" + sweep_table().to_string(index=False))


if __name__ == "__main__":
    main()

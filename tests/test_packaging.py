"""seqlab as a package: the ``seqlab`` command, a wheel used outside the checkout, where runs go,
and a logged model that loads anywhere (beside another project's ``src``, in a new process,
behind ``mlflow models serve``)."""

import ast
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import requests
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from seqlab.data.registry import build_splits
from tests.conftest import PROJECT_ROOT
from tests.servers import free_port, wait_until_serving

BIN = Path(sys.executable).parent
TIMEOUT_S = 900


def user_environment(**changes: str) -> dict[str, str]:
    """This process's environment with ``changes``, less the compile directories that importing
    seqlab set here (a user's shell has none: seqlab chooses them)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTENSOR_FLAGS", "NUMBA_CACHE_DIR")}
    return env | changes


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None, check: bool = True):
    """Run ``command`` in ``user_environment(**env)``; return the finished process."""
    result = subprocess.run(
        command, cwd=cwd, env=user_environment(**(env or {})), capture_output=True, text=True, timeout=TIMEOUT_S
    )
    if check:
        assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result


def test_nothing_imports_a_top_level_src_package():
    offenders = []
    for path in PROJECT_ROOT.rglob("*.py"):
        if {".venv", "runs"} & set(path.relative_to(PROJECT_ROOT).parts):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            offenders += [f"{path}:{node.lineno}" for n in names if n == "src" or n.startswith("src.")]
    assert not offenders


def test_the_seqlab_command_lists_its_subcommands_and_each_app_its_own_help(tmp_path):
    listing = run([str(BIN / "seqlab"), "--help"], tmp_path).stdout
    assert all(command in listing for command in ("train", "predict", "compare", "reproduce"))
    assert run([str(BIN / "seqlab"), "bogus"], tmp_path, check=False).returncode == 2
    help_text = run([str(BIN / "seqlab"), "train", "--help"], tmp_path).stdout
    assert "model: elman, gru, lstm" in help_text and "hparams_search: optuna" in help_text
    assert "schema" not in help_text, "schema internals are not the user's config groups"
    job = run([str(BIN / "seqlab"), "train", "model=lstm", "--cfg", "job"], tmp_path).stdout
    assert OmegaConf.create(job).model.name == "lstm"
    assert "run_id: ???" in run([str(BIN / "seqlab"), "predict", "--cfg", "job"], tmp_path).stdout
    for command in ("predict", "compare", "reproduce"):
        help_text = run([str(BIN / "seqlab"), command, "--help"], tmp_path).stdout
        assert "tracking: local, server" in help_text and "schema" not in help_text, command
    assert "Hydra" in run([str(BIN / "seqlab"), "train", "--hydra-help"], tmp_path).stdout


def test_shell_completion_completes_subcommands_and_then_the_apps_overrides(tmp_path):
    script = run([str(BIN / "seqlab"), "train", "--shell-completion", "install=bash"], tmp_path).stdout
    assert script.rstrip().endswith("hydra_bash_completion seqlab")

    def complete(line: str) -> list[str]:
        query = [str(BIN / "seqlab"), "-sc", "query=bash"]
        return run(query, tmp_path, env={"COMP_LINE": line, "COMP_POINT": str(len(line))}).stdout.split()

    assert complete("seqlab tr") == ["train"]
    assert "model=lstm" in complete("seqlab train model=")
    assert "split=" in complete("seqlab predict ")


def test_runs_go_under_seqlab_home_when_it_is_set(tmp_path):
    code = "from seqlab.paths import cache_dir, runs_location; print(*runs_location(), cache_dir())"
    printed = run([sys.executable, "-c", code], tmp_path, {"SEQLAB_HOME": str(tmp_path)}).stdout.split()
    assert printed == [str(tmp_path / "runs"), "SEQLAB_HOME", str(tmp_path / "runs" / ".cache")]
    printed = run([sys.executable, "-c", code], tmp_path, {"SEQLAB_HOME": ""}).stdout.split()
    assert printed[:2] == [str(PROJECT_ROOT / "runs"), "checkout"]


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory) -> Path:
    """A fresh virtual environment with seqlab installed from a wheel built from this checkout;
    its dependencies are those of the test environment (a .pth file), so nothing is downloaded
    but the build requirements."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"  # a copy: building in the checkout would leave build/ behind
    shutil.copytree(PROJECT_ROOT, source, ignore=shutil.ignore_patterns(".*", "runs", "build", "__pycache__"))
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(root / "dist"), str(source)], root)
    venv = root / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], root)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    wheel = next((root / "dist").glob("seqlab-*.whl"))
    run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-deps", str(wheel)],
        root,
    )
    return venv


@pytest.mark.slow
def test_an_installed_wheel_trains_searches_compares_and_predicts_in_any_directory(wheel_venv, tmp_path):
    work = tmp_path / "project"
    work.mkdir()
    seqlab = str(wheel_venv / "bin" / "seqlab")
    env = {"SEQLAB_HOME": "", "XDG_CACHE_HOME": str(tmp_path / "cache"), "PYTHONPATH": ""}
    located = run([str(wheel_venv / "bin" / "python"), "-c", "import seqlab; print(seqlab.__file__)"], work, env)
    assert str(wheel_venv) in located.stdout, "seqlab is imported from the wheel, not the checkout"
    installed_conf = Path(located.stdout.strip()).parent / "conf"
    shipped = {p.relative_to(installed_conf) for p in installed_conf.rglob("*.yaml")}
    assert shipped == {p.relative_to(PROJECT_ROOT / "conf") for p in (PROJECT_ROOT / "conf").rglob("*.yaml")}

    trained = run([seqlab, "train", "experiment=debug", "trainer.progress=false"], work, env)
    log = trained.stdout + trained.stderr
    assert f"runs in {work / 'runs'} (current directory); compile cache in {tmp_path / 'cache' / 'seqlab'}" in log
    assert "compiled the Elman RNN train step in" in log and "new C modules, cached in" in log, log
    first_step = [line for line in log.splitlines() if "first training step in" in line]
    assert not any("new C modules" in line for line in first_step), "the step's modules are counted once, not twice"
    run(
        [
            seqlab,
            "train",
            "-m",
            "hparams_search=optuna",
            "experiment=debug",
            "hydra.sweeper.n_trials=2",
            "~hydra.sweeper.params.optimizer",
            "trainer.progress=false",
        ],
        work,
        env,
    )
    run([seqlab, "compare", "target=debug", "sort_by=best_val_loss"], work, env)
    compared = pd.read_csv(work / "runs" / "compare" / "debug.csv")

    mlflow.set_tracking_uri(f"sqlite:///{work / 'runs' / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["debug"])
    assert len(runs) == 4 and set(runs["status"]) == {"FINISHED"}  # one run, a sweep parent, two trials
    assert sorted(compared["run_id"]) == sorted(runs[runs["tags.sweep_id"] != runs["run_id"]]["run_id"])
    run_id = runs[runs["tags.hydra_job"].isna() & runs["tags.sweep_id"].isna()]["run_id"].item()
    run([seqlab, "predict", f"run_id={run_id}"], work, env)
    assert (work / "runs" / "predictions" / f"{run_id}-test.csv").is_file()
    assert (work / "runs" / "optuna.db").is_file() and not (PROJECT_ROOT / "project").exists()

    # The shipped demo study, then again: the second trains nothing and reports the same.
    run([seqlab, "study", "study=demo", "trainer.progress=false"], work, env)
    cells = mlflow.search_runs(experiment_names=["seqlab"])
    again = run([seqlab, "study", "study=demo", "trainer.progress=false"], work, env)
    assert "12 of 12 cells done, 0 to run" in again.stdout + again.stderr
    assert len(mlflow.search_runs(experiment_names=["seqlab"])) == len(cells) == 13  # 12 cells and the study
    (parent,) = cells[cells["tags.study_parent"] == "true"]["run_id"]
    logged = {a.path for a in MlflowClient().list_artifacts(parent, "report")}
    assert {"report/results.csv", "report/table.tex", "report/critical_difference.png"} <= logged


LOAD_AND_PREDICT = """
import sys
sys.path.insert(0, sys.argv[1])
import mlflow, pandas as pd, src.models, src.data
from seqlab.models.compiling import compiled_modules
assert src.__file__.startswith(sys.argv[1]), "the other project's src comes first"
model = mlflow.pyfunc.load_model(f"runs:/{sys.argv[2]}/model")
print("PREDICTED", list(model.predict(pd.DataFrame({"sequence": [["1", "0", "1"], ["0"]]}))["prediction"]))
print("COMPILED", compiled_modules())
"""


@pytest.mark.slow
def test_a_logged_model_loads_beside_another_projects_src_and_compiles_only_once(store, store_overrides, tmp_path):
    other = tmp_path / "other_project"
    for package in ("src", "src/models", "src/data"):
        (other / package).mkdir(parents=True)
        (other / package / "__init__.py").write_text('"""Another project\'s package."""\n')
    env = {"PYTHONPATH": str(other), "MLFLOW_TRACKING_URI": store["uri"]}
    run([str(BIN / "seqlab"), "train", "experiment=debug", "trainer.progress=false", *store_overrides], other, env)
    run_id = (
        MlflowClient(store["uri"])
        .search_runs(
            [MlflowClient(store["uri"]).get_experiment_by_name("debug").experiment_id], order_by=["start_time DESC"]
        )[0]
        .info.run_id
    )

    env["SEQLAB_HOME"] = str(tmp_path / "home")  # a compile cache of its own, empty at first
    loads = [run([sys.executable, "-c", LOAD_AND_PREDICT, str(other), run_id], other, env).stdout for _ in range(2)]
    predictions = [line for out in loads for line in out.splitlines() if line.startswith("PREDICTED")]
    compiled = [int(line.split()[1]) for out in loads for line in out.splitlines() if line.startswith("COMPILED")]
    assert predictions[0] == predictions[1]
    assert compiled[0] > 0, "the first load compiles into the persistent cache"
    assert compiled[1] == 0, "the second load, in a new process, finds everything in the cache"
    assert any((tmp_path / "home" / "runs" / ".cache" / "pytensor").iterdir())


@pytest.mark.slow
def test_mlflow_models_serve_answers_with_the_predictions_of_seqlab_predict(default_run, store, tmp_path):
    run_id = default_run["metrics"]["run_id"]
    splits = build_splits(**OmegaConf.to_container(default_run["cfg"].data, resolve=True))
    raw = [
        [splits.vocabulary[token] for token, real in zip(row, mask, strict=True) if real]
        for row, mask in zip(splits.test.inputs, splits.test.mask, strict=True)
    ]
    output = tmp_path / "predict.csv"
    run(
        [str(BIN / "seqlab"), "predict", f"run_id={run_id}", f"tracking.uri={store['uri']}", f"output={output}"],
        tmp_path,
    )
    expected = pd.read_csv(output)

    port = free_port()
    server = subprocess.Popen(
        [
            str(BIN / "mlflow"),
            "models",
            "serve",
            "-m",
            f"runs:/{run_id}/model",
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        # The server starts uvicorn by name, as from an activated environment.
        env=user_environment(MLFLOW_TRACKING_URI=store["uri"], PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/ping", server, "mlflow models serve")
        request = {"dataframe_split": {"columns": ["sequence"], "data": [[sequence] for sequence in raw]}}
        answer = requests.post(f"http://127.0.0.1:{port}/invocations", json=request, timeout=300)
        answer.raise_for_status()
    finally:
        server.terminate()
        server.wait(timeout=60)
    served = pd.DataFrame(json.loads(answer.text)["predictions"])
    assert list(served["prediction"]) == list(expected["prediction"])
    assert list(served["predicted_name"].astype(str)) == list(expected["predicted_name"].astype(str))

"""The import graph keeps its direction: data → models → experiments, with the entry points as
leaves that no other module imports, and nothing measured in code comments."""

import ast
import graphlib
import re

import pytest
import yaml
from omegaconf import OmegaConf

from seqlab.experiments.config.schema import schema_of
from seqlab.experiments.config.study import StudyConfig
from seqlab.experiments.config.tracking import TrackingConfig
from seqlab.experiments.config.trainer import TrainerConfig
from seqlab.paths import conf_dir
from tests.conftest import PROJECT_ROOT, compose_config

SOURCE = PROJECT_ROOT / "src"
ENTRY_POINTS = {f"seqlab.experiments.{name}" for name in ("train", "predict", "compare", "reproduce")}


def module_name(path) -> str:
    parts = path.relative_to(SOURCE).with_suffix("").parts
    return ".".join(("seqlab", *(p for p in parts if p != "__init__")))


def imports() -> dict[str, set[str]]:
    """For each module under src/: the seqlab modules it imports (at any depth of its code)."""
    graph = {}
    for path in SOURCE.rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        graph[module_name(path)] = {n for n in names if n.startswith("seqlab")}
    return graph


def test_no_module_imports_an_entry_point():
    offenders = {
        module: sorted(names & ENTRY_POINTS)
        for module, names in imports().items()
        if names & ENTRY_POINTS and module != "seqlab.__main__"
    }
    assert not offenders


@pytest.mark.parametrize(
    "lower, upper",
    [
        ("seqlab.models", "seqlab.data"),
        ("seqlab.models", "seqlab.experiments"),
        ("seqlab.data", "seqlab.models"),
        ("seqlab.data", "seqlab.experiments"),
        # experiments/ in three wings: config is read by the other two and reads neither, tracking
        # records and reads runs without knowing how they train.
        ("seqlab.experiments.config", "seqlab.experiments.training"),
        ("seqlab.experiments.config", "seqlab.experiments.tracking"),
        ("seqlab.experiments.tracking", "seqlab.experiments.training"),
        # studies run on the three wings; none of them knows studies
        ("seqlab.experiments.config", "seqlab.experiments.studies"),
        ("seqlab.experiments.tracking", "seqlab.experiments.studies"),
        ("seqlab.experiments.training", "seqlab.experiments.studies"),
        # blocks are what encoders and networks are made of, never the other way round
        ("seqlab.models.blocks", "seqlab.models.encoders"),
        ("seqlab.models.blocks", "seqlab.models.network"),
        ("seqlab.models.encoders", "seqlab.models.network"),
    ],
)
def test_lower_layers_never_import_upper_ones(lower, upper):
    offenders = {
        module: sorted(n for n in names if n.startswith(upper))
        for module, names in imports().items()
        if module.startswith(lower) and any(n.startswith(upper) for n in names)
    }
    assert not offenders


def source_lines(pattern: str, skip: tuple[str, ...] = ()) -> list[str]:
    """``path:line: text`` of every line under src/ that matches ``pattern`` (files named in
    ``skip`` aside)."""
    regex = re.compile(pattern)
    return [
        f"{path.relative_to(PROJECT_ROOT)}:{number}: {line.strip()}"
        for path in SOURCE.rglob("*.py")
        if path.name not in skip
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if regex.search(line) and not line.lstrip().startswith(("def ", "#"))
    ]


def test_no_measured_timing_in_code():
    assert not source_lines(r"\d\s*(ms|µs|GFLOP)\b|\bGFLOP"), "measured timings belong in docs/performance.md"


def test_config_files_only_select_a_schema_and_override_its_defaults():
    # Defaults are written once, in the schema: a value a group file repeats would go stale.
    fixed = {"trainer": TrainerConfig, "tracking": TrackingConfig, "study": StudyConfig}
    repeated = []
    for path in sorted(conf_dir().glob("*/*.yaml")):
        group = path.parent.name
        if group in ("experiment", "hparams_search"):
            continue
        values = yaml.safe_load(path.read_text()) or {}
        values.pop("defaults", None)
        node = compose_config([f"{'+' if group == 'study' else ''}{group}={path.stem}"])[group]
        name = OmegaConf.select(node, "source") or OmegaConf.select(node, "name", throw_on_missing=False)
        schema = fixed.get(group) or schema_of(group, name)
        defaults = OmegaConf.to_container(OmegaConf.structured(schema))
        repeated += [f"{path.name}: {key}" for key, value in values.items() if defaults.get(key) == value]
    assert not repeated


def test_only_the_recorder_writes_to_mlflow():
    writes = (
        r"(mlflow|client|MlflowClient\(\))\.(\w+\.)?(log_\w+|set_tags?|start_run|end_run|create_run|set_terminated)\("
    )
    assert not source_lines(writes, skip=("recorder.py",)), "runs are written through RunRecorder"


def test_the_import_graph_has_no_cycle():
    graph = imports()
    modules = set(graph)
    # ``from package import submodule`` depends on the submodule, not on the package's __init__.
    edges = {
        module: {
            n
            for n in names
            if n in modules and n != module and not any(m.startswith(f"{n}.") and m in names for m in modules)
        }
        for module, names in graph.items()
    }
    try:
        list(graphlib.TopologicalSorter(edges).static_order())
    except graphlib.CycleError as error:
        pytest.fail(f"import cycle: {error.args[1]}")

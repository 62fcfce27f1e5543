"""A study's cells: every (configuration, data set, seed) of ``conf/study``, and every fold of a
data set cross-validated with ``data.folds=k`` among its overrides, with the overrides that make
it one ordinary training run."""

import itertools
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from seqlab.data.ucr import READERS
from seqlab.experiments.config.study import NAME
from seqlab.experiments.config.validation import ConfigError


@dataclass(frozen=True)
class Cell:
    """One training run of a study: its names and the overrides that select it."""

    configuration: str
    dataset: str
    seed: int
    overrides: tuple[str, ...]
    fold: int | None = None  # its cross-validation fold; None for a data set with a test split

    @property
    def key(self) -> tuple[str, str, int, int | None]:
        return self.configuration, self.dataset, self.seed, self.fold

    @property
    def where(self) -> str:
        """The cell as a message names it."""
        fold = "" if self.fold is None else f" fold={self.fold}"
        return f"study cell configuration={self.configuration} dataset={self.dataset} seed={self.seed}{fold}"


def quoted(value: str) -> str:
    """``value`` as a quoted string of Hydra's override grammar (a path with spaces or ``=``)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def folder_datasets(folder: str) -> dict[str, list[str]]:
    """The UCR/UEA data sets in ``folder``: ``X/X_TRAIN.<ts|tsv>`` with its ``X_TEST`` twin,
    each as ``{X: [data=archive, data.train_path=..., data.test_path=...]}``, by name."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise ConfigError(f"study.folder={folder!r}: no such folder")
    found = {}
    for suffix in READERS:
        for train in sorted(root.glob(f"*/*_TRAIN.{suffix}")):
            name = train.name.removesuffix(f"_TRAIN.{suffix}")
            test = train.with_name(f"{name}_TEST.{suffix}")
            if train.parent.name == name and test.is_file() and name not in found and NAME.fullmatch(name):
                paths = (
                    f"data.train_path={quoted(str(train.resolve()))}",
                    f"data.test_path={quoted(str(test.resolve()))}",
                )
                found[name] = ["data=archive", *paths]
    if not found:
        raise ConfigError(f"study.folder={folder!r}: holds no <X>/<X>_TRAIN.ts (or .tsv) with its <X>_TEST twin")
    return found


def study_datasets(study: DictConfig) -> dict[str, list[str]]:
    """Every data set of ``study`` by name: its ``datasets``, those found in its ``folder`` and
    its ``archives`` (``data=ucr data.name=<name>``); a name given twice is refused."""
    sources = [
        OmegaConf.to_container(study.datasets),
        folder_datasets(study.folder) if study.folder else {},
        {name: ["data=ucr", f"data.name={name}"] for name in study.archives},
    ]
    datasets: dict[str, list[str]] = {}
    for source in sources:
        twice = sorted(set(source) & set(datasets))
        if twice:
            raise ConfigError(f"study {study.name}: data sets {twice} are named twice (study.datasets/folder/archives)")
        datasets |= source
    return datasets


def folds_of(overrides: list[str], where: str) -> int | None:
    """The number of cross-validation folds that ``overrides`` set (the last ``data.folds=k``),
    or None; ConfigError naming ``where`` for a value that is no whole number, and for a
    ``data.fold`` (the study sets each cell's fold)."""
    folds = None
    for override in overrides:
        key, _, value = override.partition("=")
        if key.lstrip("+") == "data.fold":
            raise ConfigError(f"{where}: {override!r}: a study runs every fold of data.folds; drop data.fold")
        if key.lstrip("+") == "data.folds":
            try:
                folds = None if value == "null" else int(value)
            except ValueError:
                raise ConfigError(f"{where}: {override!r}: data.folds must be a whole number") from None
    return folds


def study_cells(study: DictConfig) -> list[Cell]:
    """The cells of ``study``, data set by data set (a data set's results complete together),
    then configuration, seed (0 .. ``study.seeds`` - 1) and, for a data set whose overrides set
    ``data.folds=k``, fold (0 .. k - 1); each with the study's ``overrides``, then its
    configuration's and its data set's, then its seed (and fold)."""
    datasets = study_datasets(study)
    cells = []
    for dataset, configuration, seed in itertools.product(datasets, study.configurations, range(study.seeds)):
        overrides = (*study.overrides, *study.configurations[configuration], *datasets[dataset], f"seed={seed}")
        folds = folds_of(list(overrides), f"study {study.name} data set {dataset}")
        if folds is None:
            cells.append(Cell(configuration, dataset, seed, overrides))
        else:
            cells += [Cell(configuration, dataset, seed, (*overrides, f"data.fold={f}"), f) for f in range(folds)]
    return cells

"""The structured-config schema behind ``conf/``: types, defaults and allowed ranges.

These dataclasses (and each cell's options dataclass) are the only place defaults are written:
the YAML files of ``conf/`` select a schema and override what differs from it. Hydra merges
every YAML file and override into them, so a wrong type or an unknown key fails while the
config is composed. Ranges (a positive size, a known dtype) are
declared next to each field with ``checked`` and enforced by ``validate`` before anything
compiles; the error names the key, the bad value and where it was set.
"""

import codecs
from dataclasses import dataclass, field, fields, is_dataclass, make_dataclass
from functools import cache
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import II, MISSING

from seqlab.data.missing import MISSING_POLICIES
from seqlab.data.normalize import NORMALIZATIONS
from seqlab.data.registry import SOURCES
from seqlab.data.text import PUNCTUATION_MODES
from seqlab.data.text_table import TEXT_FORMATS
from seqlab.fields import checked, fixed_name, in_range, non_negative, one_of, plain_name, positive
from seqlab.models.cells import CELLS, Cell
from seqlab.models.initializers import INPUT_INITIALIZERS, RECURRENT_INITIALIZERS
from seqlab.models.pooling import POOLINGS
from seqlab.models.schedules import SCHEDULES

# The files of conf/optimizer (momentum and nesterov are sgd, adamw is adam with other defaults).
OPTIMIZER_CONFIGS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adamw")


@dataclass
class DataConfig:
    """Where the sequences come from; ``seed`` seeds generation and random splits."""

    name: str = MISSING
    seed: int = II("seed")  # the top-level seed unless set


@dataclass
class GeneratedDataConfig(DataConfig):
    """A generator: how many sequences go into each split (one seeded draw, cut in order)."""

    train_size: int = positive(2000)
    val_size: int = positive(500)
    test_size: int = positive(500)


@dataclass
class VariableLengthConfig(GeneratedDataConfig):
    """A toy generator whose sequence lengths are drawn uniformly in [min_len, max_len]."""

    min_len: int = positive(8)  # padded and masked when shorter than the batch's longest
    max_len: int = positive(8)

    def cross_check(self) -> list[tuple[str, Any, str]]:
        if self.min_len > self.max_len:
            return [("min_len", self.min_len, f"must be <= data.max_len ({self.max_len})")]
        return []


@dataclass
class ParityDataConfig(VariableLengthConfig):
    name: str = fixed_name("parity", "data", SOURCES)


@dataclass
class MajorityDataConfig(VariableLengthConfig):
    name: str = fixed_name("majority", "data", SOURCES)
    min_len: int = positive(5)
    max_len: int = positive(15)
    num_symbols: int = checked(3, lambda v: v >= 2, "must be >= 2")


@dataclass
class FirstSymbolDataConfig(VariableLengthConfig):
    name: str = fixed_name("first_symbol", "data", SOURCES)
    min_len: int = positive(50)
    max_len: int = positive(50)
    num_symbols: int = checked(2, lambda v: v >= 2, "must be >= 2")  # key symbols at step 0: the classes
    num_distractors: int = positive(4)  # symbols of the later steps


@dataclass
class ReberDataConfig(GeneratedDataConfig):
    name: str = fixed_name("reber", "data", SOURCES)
    # Longer strings are drawn again, never truncated.
    max_len: int = checked(30, lambda v: v >= 9, "must be >= 9 (the shortest embedded string)")


@dataclass
class SinesDataConfig(GeneratedDataConfig):
    name: str = fixed_name("sines", "data", SOURCES)
    length: int = positive(40)
    num_classes: int = checked(3, lambda v: v >= 2, "must be >= 2")
    noise_std: float = non_negative(0.3)


@dataclass
class MultichannelSeriesConfig(GeneratedDataConfig):
    """A synthetic time series of ``length`` steps in ``channels`` channels, with noise."""

    length: int = positive(60)
    channels: int = positive(1)  # > 1 makes multivariate series
    noise_std: float = non_negative(0.2)


@dataclass
class ShapesDataConfig(MultichannelSeriesConfig):
    name: str = fixed_name("shapes", "data", SOURCES)


@dataclass
class ControlChartsDataConfig(MultichannelSeriesConfig):
    name: str = fixed_name("control_charts", "data", SOURCES)
    noise_std: float = non_negative(2.0)
    train_size: int = positive(600)
    val_size: int = positive(150)
    test_size: int = positive(300)


@dataclass
class TextOptions:
    """Tokenizer and vocabulary (built on the training split only)."""

    lowercase: bool = True
    punctuation: str = one_of("split", PUNCTUATION_MODES)  # split: a token each | strip | keep
    min_freq: int = positive(1)
    max_size: int | None = checked(None, lambda v: v is None or v > 2, "must be > 2 or null")
    # Truncate longer texts (with a warning); null = never.
    max_len: int | None = checked(None, lambda v: v is None or v > 0, "must be > 0 or null")


@dataclass
class SentimentDataConfig(GeneratedDataConfig, TextOptions):
    name: str = fixed_name("sentiment", "data", SOURCES)
    min_fillers: int = non_negative(0)  # filler words around the opinion clause
    max_fillers: int = non_negative(6)
    negation_rate: float = in_range(0.5, 0.0, 1.0, closed_high=True)
    label_noise: float = in_range(0.0, 0.0, 0.5)  # share of flipped labels


def held_out_share(default: float) -> Any:
    """A share of the examples held out as the test split: in (0, 1)."""
    return checked(default, lambda v: 0 < v < 1, "must be in (0, 1): the split it holds out must exist")


def validation_share(default: float) -> Any:
    """A share of the training examples held out as the validation split: in [0, 1), where 0
    trains on all of them with no validation split (and trainer.monitor on the training split)."""
    return checked(default, lambda v: 0 <= v < 1, "must be in [0, 1) (0: no validation split)")


def text_encoding(default: str) -> Any:
    """A dataclass field naming a Python text codec (utf-8, latin-1, cp1252, ...)."""

    def known(name: str) -> bool:
        try:
            codecs.lookup(name)
        except LookupError:
            return False
        return True

    return checked(default, known, "must be a Python codec name (utf-8, latin-1, cp1252, ...)")


@dataclass
class TextTableDataConfig(DataConfig, TextOptions):
    """Texts and labels from files: one file (``path``), or one per split (``train_path``,
    ``test_path`` and optionally ``validation_path``)."""

    name: str = fixed_name("text_table", "data", SOURCES)
    path: str | None = None
    train_path: str | None = None
    validation_path: str | None = None  # null: val_fraction of train is held out
    test_path: str | None = None
    # csv: a CSV/TSV table with a header | lines: 'label<sep>text' | fasttext: '__label__<label> text'
    format: str = one_of("csv", TEXT_FORMATS)
    encoding: str = text_encoding("utf-8")
    text_column: str = "text"  # csv only
    label_column: str = "label"  # csv only
    split_column: str | None = None  # csv with path only: train/validation/test; null = random split
    # csv: null = from the extension (.tsv/.tab: tab, else comma); lines: null = whitespace
    sep: str | None = None
    # seeded, stratified by label; when no validation rows exist (0: none, train on all of train)
    val_fraction: float = validation_share(0.1)
    test_fraction: float = held_out_share(0.2)  # path without split_column only

    def cross_check(self) -> list[tuple[str, Any, str]]:
        if (self.path is None) == (self.train_path is None):
            return [("path", self.path, "give either data.path (one file) or data.train_path and data.test_path")]
        if self.train_path is not None and self.test_path is None:
            return [("test_path", None, "is needed with data.train_path (the test split is never held out of it)")]
        if self.split_column is not None and (self.path is None or self.format != "csv"):
            return [("split_column", self.split_column, "needs data.path and data.format=csv")]
        total = self.val_fraction + self.test_fraction
        if self.path is not None and self.split_column is None and total >= 1:
            return [
                (
                    "test_fraction",
                    self.test_fraction,
                    f"with val_fraction {self.val_fraction}: sums to {total:g}, "
                    "which leaves no training examples; the two must sum to less than 1",
                )
            ]
        return []


@dataclass
class ArchiveDataConfig(DataConfig):
    """A UCR (.tsv) or UEA (.ts) dataset: its TRAIN and TEST files."""

    name: str = fixed_name("archive", "data", SOURCES)
    train_path: str = MISSING
    test_path: str = MISSING
    validation_path: str | None = None  # null: val_fraction of TRAIN is held out
    val_fraction: float = validation_share(0.2)  # held out of TRAIN, seeded, stratified; 0: all of TRAIN
    encoding: str = text_encoding("utf-8")
    # none | series | dataset (statistics of the training split)
    normalize: str = one_of("dataset", NORMALIZATIONS)
    # missing values (NaN, '?'): refuse | drop (the series) | fill (interpolate): seqlab.data.missing
    missing: str = one_of("refuse", MISSING_POLICIES)
    max_len: int | None = checked(None, lambda v: v is None or v > 0, "must be > 0 or null")


# 8192 LSTM units: 1 GB of float32 recurrent weights per layer and direction, before gradients.
MAX_HIDDEN_SIZE = 8192


@dataclass
class ModelConfig:
    """A recurrent network (``seqlab.models.network``) of the cell ``name``; the cell's own
    options are added to it by ``model_schema``."""

    name: str = MISSING
    hidden_size: int = positive(32)
    num_layers: int = positive(1)
    bidirectional: bool = False
    dropout: float = in_range(0.0, 0.0, 1.0)  # between stacked layers, training only
    input_dropout: float = in_range(0.0, 0.0, 1.0)  # on the embedded tokens or input values
    output_dropout: float = in_range(0.0, 0.0, 1.0)  # on the pooled summary, before the output layer
    recurrent_dropout: float = in_range(0.0, 0.0, 1.0)  # on the recurrent weights (DropConnect), per step
    # true: input and between-layer masks drawn once per sequence, shared by its time steps
    variational_dropout: bool = False
    pooling: str = one_of("last", POOLINGS)  # over the real (unpadded) steps; attention: additive
    attention_size: int = positive(32)  # units of the attention scorer (pooling=attention only)
    # Convolution blocks for series (Conv1D → batch norm → ReLU), one per entry; [] for none.
    conv_filters: list[int] = field(default_factory=list)
    conv_kernels: list[int] = field(default_factory=list)  # odd, one per block
    conv_strides: list[int] = field(default_factory=list)  # one per block; [] is 1 for every block
    conv_dilations: list[int] = field(default_factory=list)  # one per block; [] is 1 for every block
    conv_residual: bool = False  # each block adds its input (a 1×1 convolution where the shape changes)
    # branch: beside the recurrent layers, averaged over time and joined to their summary
    # (LSTM-FCN) | frontend: the blocks' outputs (shorter with strides) feed the recurrent layers
    conv_layout: str = one_of("branch", ("branch", "frontend"))
    conv_momentum: float = in_range(0.1, 0.0, 1.0, closed_high=True)  # of batch norm's running statistics
    # Set for token data; null feeds tokens one-hot.
    embedding_dim: int | None = checked(None, lambda v: v is None or v > 0, "must be > 0 or null")
    padding_id: int = non_negative(0)
    # Start the embedding from pretrained word vectors: a GloVe/word2vec text file, or a .npy
    # (words, dim) matrix with its words one per line in <stem>.vocab beside it (no download).
    embedding_vectors: str | None = None
    embedding_freeze: bool = False  # keep the embedding as initialised (pretrained) while training
    # glorot_uniform | normal (N(0, init_std²)); orthogonal | normal (the seed: normal, 0.01)
    input_init: str = one_of("glorot_uniform", tuple(INPUT_INITIALIZERS))
    recurrent_init: str = one_of("orthogonal", tuple(RECURRENT_INITIALIZERS))
    init_std: float = positive(0.01)
    # fused: a whole-sequence Op (fast) | scan: PyTensor's scan over the cell's step (the reference)
    implementation: str = one_of("fused", ("fused", "scan"))

    def cross_check(self) -> list[tuple[str, Any, str]]:
        found = []
        if self.hidden_size > MAX_HIDDEN_SIZE:  # U alone is (hidden, gates * hidden)
            found.append(("hidden_size", self.hidden_size, f"must be at most {MAX_HIDDEN_SIZE}"))
        if self.dropout > 0 and self.num_layers == 1:
            found.append(("dropout", self.dropout, "acts between layers: needs model.num_layers > 1"))
        blocks = len(self.conv_filters)
        if len(self.conv_kernels) != blocks:
            found.append(
                ("conv_kernels", self.conv_kernels, f"needs one kernel per block of conv_filters {self.conv_filters}")
            )
        for key in ("conv_strides", "conv_dilations"):
            if len(getattr(self, key)) not in (0, blocks):
                found.append(
                    (key, getattr(self, key), f"needs [] or one per block of conv_filters {self.conv_filters}")
                )
        if any(k < 1 or k % 2 == 0 for k in self.conv_kernels):
            found.append(("conv_kernels", self.conv_kernels, "kernels must be odd and >= 1"))
        for key in ("conv_filters", "conv_strides", "conv_dilations"):
            if min([*getattr(self, key), 1]) < 1:
                found.append((key, getattr(self, key), "must all be >= 1"))
        if self.variational_dropout and self.input_dropout == 0 and self.dropout == 0:
            found.append(
                (
                    "variational_dropout",
                    self.variational_dropout,
                    "shapes the masks of model.input_dropout and model.dropout, which are both 0",
                )
            )
        if self.embedding_vectors is not None and self.embedding_dim is None:
            found.append(("embedding_vectors", self.embedding_vectors, "needs model.embedding_dim (the vectors' size)"))
        cell = CELLS.get(self.name)  # an unknown name is the name field's own error
        if cell is not None and self.implementation == "fused" and not cell.fused:
            found.append(
                (
                    "implementation",
                    self.implementation,
                    f"the {cell.title} cell has no fused implementation; use model.implementation=scan",
                )
            )
        return found


@cache
def model_schema(cell: Cell) -> type:
    """The schema of ``model=<cell.name>``: ``ModelConfig``'s fields, the fixed name and the
    cell's own options (their defaults and rules come from the cell's options dataclass)."""
    options = [(f.name, f.type, field(default=f.default, metadata=f.metadata)) for f in fields(cell.options)]
    name = ("name", str, fixed_name(cell.name, "model", tuple(CELLS)))
    return make_dataclass(f"{cell.title.split()[0]}ModelConfig", [name, *options], bases=(ModelConfig,))


@dataclass
class ScheduleConfig:
    """Learning-rate schedule over epochs, with an optional linear warm-up."""

    name: str = one_of("constant", SCHEDULES)
    warmup_epochs: float = non_negative(0.0)  # linear warm-up from lr/steps to lr
    step_epochs: float = positive(10.0)  # step: multiply lr by gamma every step_epochs
    gamma: float = checked(0.5, lambda v: 0 < v <= 1, "must be in (0, 1]")
    # plateau: multiply lr by gamma once trainer.monitor has not improved for patience_epochs
    # (counted again after each reduction), never below min_lr
    patience_epochs: int = positive(5)
    min_lr: float = non_negative(0.0)


@dataclass
class OptimizerConfig:
    name: str = MISSING
    lr: float = positive(0.05)
    weight_decay: float = non_negative(0.0)  # L2 penalty added to the gradient (adamw: decoupled)
    # Clip the global gradient norm to this.
    clip_norm: float = checked(0.0, lambda v: v >= 0, "must be >= 0 (0 turns clipping off)")
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)


@dataclass
class SGDConfig(OptimizerConfig):
    name: str = fixed_name("sgd", "optimizer", OPTIMIZER_CONFIGS)
    momentum: float = in_range(0.0, 0.0, 1.0)
    nesterov: bool = False

    def cross_check(self) -> list[tuple[str, Any, str]]:
        if self.nesterov and self.momentum == 0:
            return [("nesterov", True, "needs optimizer.momentum > 0")]
        return []


@dataclass
class AdagradConfig(OptimizerConfig):
    name: str = fixed_name("adagrad", "optimizer", OPTIMIZER_CONFIGS)
    eps: float = positive(1e-8)


@dataclass
class RMSpropConfig(OptimizerConfig):
    name: str = fixed_name("rmsprop", "optimizer", OPTIMIZER_CONFIGS)
    lr: float = positive(0.001)
    rho: float = in_range(0.9, 0.0, 1.0)
    eps: float = positive(1e-8)


@dataclass
class AdadeltaConfig(OptimizerConfig):
    name: str = fixed_name("adadelta", "optimizer", OPTIMIZER_CONFIGS)
    lr: float = positive(1.0)
    rho: float = in_range(0.95, 0.0, 1.0)
    eps: float = positive(1e-6)


@dataclass
class AdamConfig(OptimizerConfig):
    """Adam; with ``name: adamw`` the weight decay is decoupled from the gradient."""

    name: str = checked(
        "adam",
        lambda v: v in ("adam", "adamw"),
        f"must be 'adam' or 'adamw'; choose another with optimizer=<{'|'.join(OPTIMIZER_CONFIGS)}>",
    )
    lr: float = positive(0.001)
    beta1: float = in_range(0.9, 0.0, 1.0)
    beta2: float = in_range(0.999, 0.0, 1.0)
    eps: float = positive(1e-8)


@dataclass
class TrainerConfig:
    epochs: int = positive(60)
    batch_size: int = positive(16)
    # Batch sequences of similar length together (seeded), so variable-length data wastes little
    # padding; every batch is cut to its longest sequence either way.
    bucket_by_length: bool = False
    # Train on at most this many minibatches per epoch (quick checks, experiment=debug).
    limit_batches: int | None = checked(None, lambda v: v is None or v > 0, "must be > 0 or null")
    # Batch size for validation, test and predict (no gradients, so it can be larger).
    eval_batch_size: int = positive(500)
    # Largest size of the padded inputs fed one-hot (token data without model.embedding_dim).
    max_input_gb: float = positive(4.0)
    # Threads of PyTensor's own matrix products (MKL); the fused recurrences multiply with
    # NumPy's OpenBLAS at the same time, and two busy pools on few cores slow each other.
    blas_threads: int = positive(1)
    # float32 trains faster; float64 is what gradient checks and exact reproduction use.
    dtype: str = one_of("float32", ("float32", "float64"))
    progress: bool = True  # a progress bar per epoch (Rich); the epoch summary is logged anyway
    # The validation metric that picks the epoch whose weights the run keeps (val_loss: lowest,
    # val_accuracy: highest), that early stopping watches and that sweepers optimise.
    # (train_loss, train_accuracy: for data without a validation split, data.val_fraction=0)
    monitor: str = one_of("val_loss", ("val_loss", "val_accuracy", "train_loss", "train_accuracy"))
    # The training loss: cross-entropy against targets smoothed by this much (0: none), and
    # class weights (none | balanced: each class weighs as much in total, from the training split)
    label_smoothing: float = in_range(0.0, 0.0, 1.0)
    class_weights: str = one_of("none", ("none", "balanced"))
    # Stop after this many epochs without improvement of the monitor; null trains every epoch.
    patience: int | None = checked(None, lambda v: v is None or v > 0, "must be > 0 or null")
    # <checkpoint_dir>/<run id>/checkpoint.pkl is rewritten after every epoch (deleted when the
    # run finishes); a killed run goes on with trainer.resume=<run id or checkpoint path>.
    checkpoint_dir: str = "${seqlab_runs:}/checkpoints"
    resume: str | None = None


@dataclass
class TrackingConfig:
    """Where runs are recorded. ``uri: null`` is the embedded store ``runs/mlflow.db``."""

    uri: str | None = None
    artifact_root: str | None = None  # null: runs/artifacts/<experiment> (a server decides its own)
    experiment_name: str = plain_name("seqlab")
    # null: MLflow's random name, or for a sweep's job the values it sweeps ("lr=0.01 seed=3")
    run_name: str | None = plain_name(None)
    # Also log the classifier as an MLflow pyfunc model (runs:/<run id>/model).
    log_model: bool = True
    # A tracking server that stops answering fails the run after this many retries of a
    # request (MLflow's own default retries for about 4 minutes), each waiting request_timeout_s.
    request_retries: int = non_negative(2)
    request_timeout_s: float = positive(30.0)


@dataclass
class Config:
    data: DataConfig = MISSING
    model: ModelConfig = MISSING
    optimizer: OptimizerConfig = MISSING
    trainer: TrainerConfig = MISSING
    tracking: TrackingConfig = MISSING
    seed: int = 0


GROUP_SCHEMAS = {
    "data/parity": ParityDataConfig,
    "data/majority": MajorityDataConfig,
    "data/first_symbol": FirstSymbolDataConfig,
    "data/reber": ReberDataConfig,
    "data/sines": SinesDataConfig,
    "data/shapes": ShapesDataConfig,
    "data/control_charts": ControlChartsDataConfig,
    "data/sentiment": SentimentDataConfig,
    "data/text_table": TextTableDataConfig,
    "data/archive": ArchiveDataConfig,
    "optimizer/sgd": SGDConfig,
    "optimizer/adagrad": AdagradConfig,
    "optimizer/rmsprop": RMSpropConfig,
    "optimizer/adadelta": AdadeltaConfig,
    "optimizer/adam": AdamConfig,
}


def group_schemas() -> dict[str, type]:
    """The schema of every group option, ``"<group>/<option>"``: the data sources and
    optimisers above, and one per registered cell (``model_schema``)."""
    return GROUP_SCHEMAS | {f"model/{name}": model_schema(cell) for name, cell in CELLS.items()}


def schema_of(group: str, name: str) -> type:
    """The schema of option ``name`` of ``group`` (``adamw`` is Adam's schema)."""
    return group_schemas()[f"{group}/{ {'adamw': 'adam'}.get(name, name) }"]


def register_schemas() -> None:
    """Store the schemas where ``conf/`` refers to them (``defaults: [/schema/<group>/<name>@_here_]``,
    and ``<entry point>_schema`` for predict, compare and reproduce).

    Kept under ``schema/`` so they never show up as choices of the groups themselves.
    """
    store = ConfigStore.instance()
    store.store(name="config_schema", node=Config)
    for name, node in group_schemas().items():
        group, _, option = name.rpartition("/")
        store.store(group=f"schema/{group}", name=option, node=node)
    store.store(group="schema/trainer", name="default", node=TrainerConfig)
    store.store(group="schema/tracking", name="default", node=TrackingConfig)
    for name, node in ENTRY_POINT_SCHEMAS.items():
        store.store(name=name, node=node)


def _cross_check(node: Any) -> list[tuple[str, Any, str]]:
    return node.cross_check() if hasattr(node, "cross_check") else []


def find_violations(node: Any, prefix: str = "") -> list[tuple[str, Any, str]]:
    """Walk a config object (dataclasses from ``OmegaConf.to_object``).

    Returns ``(dotted key, value, requirement)`` for every field whose rule fails, and for every
    rule across fields (a dataclass's ``cross_check``) that fails.
    """
    found = [(f"{prefix}{key}", value, why) for key, value, why in _cross_check(node)]
    for f in fields(node):
        value = getattr(node, f.name)
        key = f"{prefix}{f.name}"
        if is_dataclass(value):
            found += find_violations(value, prefix=f"{key}.")
        elif "rule" in f.metadata and not f.metadata["rule"](value):
            found.append((key, value, f.metadata["requirement"]))
    return found


@dataclass
class PredictConfig:
    """``seqlab predict run_id=<id>``: classify a split of a run's data, or
    new ``texts`` with a run trained on text."""

    run_id: str = MISSING
    split: str = one_of("test", ("train", "validation", "test"))
    texts: list[str] | None = None
    batch_size: int = positive(500)
    output: str | None = None
    tracking: TrackingConfig = MISSING


@dataclass
class CompareConfig:
    """``seqlab compare target=<sweep id | experiment>``: a table of runs."""

    target: str = MISSING
    # null: the validation metric the runs chose their best epoch by (best_<trainer.monitor>)
    sort_by: str | None = None
    output: str | None = None
    # When runs vary their seed: the metric on which the two best configurations are compared,
    # paired by seed (Wilcoxon signed-rank and paired t-test).
    paired_metric: str = "test_accuracy"
    tracking: TrackingConfig = MISSING


@dataclass
class ReproduceConfig:
    """``seqlab reproduce run_id=<id>``: train a logged run again and compare."""

    run_id: str = MISSING
    tracking: TrackingConfig = MISSING


ENTRY_POINT_SCHEMAS = {
    "predict_schema": PredictConfig,
    "compare_schema": CompareConfig,
    "reproduce_schema": ReproduceConfig,
}

"""Turning a composed config into data and a model (the only place config meets constructors)."""

import math

import numpy as np
import psutil
from omegaconf import DictConfig, OmegaConf

from seqlab.data.dataset import DataSplits
from seqlab.data.registry import build_splits
from seqlab.data.vectors import aligned_vectors
from seqlab.experiments.config.schema import schema_of
from seqlab.experiments.config.validation import ConfigError
from seqlab.fields import from_values
from seqlab.models.cells import get_cell
from seqlab.models.classifier import SequenceClassifier
from seqlab.models.encoders import get_encoder
from seqlab.models.network import NetworkOptions, NetworkSpec, init_network_params, memory_estimate, param_shapes
from seqlab.models.optimizers import OptimizerSpec

INIT_STREAM, SHUFFLE_STREAM, DROPOUT_STREAM, VECTORS_STREAM = 1, 2, 3, 4  # independent streams from cfg.seed


def load_data(cfg: DictConfig) -> DataSplits:
    """Generate or load ``cfg.data``'s splits, as the source gives them."""
    return build_splits(**OmegaConf.to_container(cfg.data, resolve=True))


def model_inputs(cfg: DictConfig, splits: DataSplits) -> DataSplits:
    """``splits`` in the form ``cfg.model`` takes, cast to ``cfg.trainer.dtype``.

    Token data goes to a model without an embedding as one-hot vectors, unless they would take
    more than ``trainer.max_input_gb``; an embedding on real-valued data, n-grams appended to
    texts (``data.ngrams``) for an encoder that reads order, and series of different lengths
    for ``model.dimension_shuffle`` are ConfigErrors.
    """
    if cfg.model.embedding_dim is not None and splits.vocab_size is None:
        raise ConfigError(
            f"model.embedding_dim={cfg.model.embedding_dim}: an embedding needs token data, "
            f"but data={cfg.data.name} gives real-valued features; set model.embedding_dim=null"
        )
    encoder = get_encoder(cfg.model.encoder)
    if splits.vocab_size is not None and not encoder.token_inputs:
        raise ConfigError(
            f"model={cfg.model.name}: the {encoder.title} encoder reads real-valued series, "
            f"but data={cfg.data.name} gives tokens; choose a model that reads them"
        )
    ngrams = cfg.data.get("ngrams", 1)
    if ngrams > 1 and encoder.reads_order:
        raise ConfigError(
            f"data.ngrams={ngrams}: the n-grams follow each text's words, which the {encoder.title} "
            "encoder would read as more text; use model=bag, or data.ngrams=1"
        )
    if ngrams > 1 and cfg.model.get("bigram_buckets"):
        raise ConfigError(
            f"data.ngrams={ngrams} gives the bag its bigrams, and model.bigram_buckets="
            f"{cfg.model.bigram_buckets} would hash pairs of those tokens too; set model.bigram_buckets=0"
        )
    if cfg.model.get("dimension_shuffle"):
        lengths = np.concatenate([part.mask.sum(axis=1) for part in (splits.train, splits.validation, splits.test)])
        if lengths.min() != lengths.max():
            raise ConfigError(
                f"model.dimension_shuffle=true reads each series' values at every time step as the "
                f"features of one step, so it needs series of one length; data={cfg.data.name} has "
                f"series of {lengths.min():.0f} to {lengths.max():.0f} steps (set data.max_len to cut them, "
                "or model.dimension_shuffle=false)"
            )
    if cfg.model.embedding_dim is None and splits.vocab_size is not None:
        steps = sum(part.mask.size for part in (splits.train, splits.validation, splits.test))
        size_gb = steps * splits.vocab_size * np.dtype(cfg.trainer.dtype).itemsize / 1e9
        if size_gb > cfg.trainer.max_input_gb:
            raise ConfigError(
                f"model.embedding_dim=null: the data's {splits.vocab_size} tokens fed one-hot take "
                f"{size_gb:.1f} GB (trainer.max_input_gb={cfg.trainer.max_input_gb}); "
                "set model.embedding_dim (e.g. 64) to learn an embedding instead"
            )
        splits = splits.one_hot()
    return splits.astype(cfg.trainer.dtype)


def _network_spec(
    model: dict, num_classes: int, input_size: int, vocab_size: int | None, steps: int | None
) -> NetworkSpec:
    """A NetworkSpec from a complete ``model`` config (as a dict)."""
    encoder = get_encoder(model["encoder"])
    cell = get_cell(model["name"]) if encoder.uses_cell else None
    return NetworkSpec(
        num_classes=num_classes,
        input_size=input_size,
        vocab_size=vocab_size,
        encoder=encoder.name,
        options=from_values(encoder.options, model),
        network=from_values(NetworkOptions, model),
        cell=cell.name if cell is not None else None,
        cell_options=from_values(cell.options, model) if cell is not None else None,
        steps=steps,
    )


def network_spec(cfg: DictConfig, splits: DataSplits) -> NetworkSpec:
    """The network ``cfg.model`` describes, sized for ``splits``."""
    model = OmegaConf.to_container(cfg.model, resolve=True)
    steps = splits.train.inputs.shape[1]
    return _network_spec(model, splits.num_classes, splits.num_features or 0, splits.vocab_size, steps)


def default_network_spec(
    num_classes: int,
    input_size: int = 0,
    vocab_size: int | None = None,
    model: str = "elman",
    steps: int | None = None,
    **options: object,
) -> NetworkSpec:
    """The network ``model=<model>`` with the schema's defaults and the ``options`` given
    (``model.<key>`` values; a sub-config such as ``conv`` as a dict), for inputs of ``steps``
    time steps when its shape depends on them, for code that builds models without composing a
    config (tests, benchmarks)."""
    config = OmegaConf.merge(OmegaConf.structured(schema_of("model", model)), options)
    return _network_spec(OmegaConf.to_container(config), num_classes, input_size, vocab_size, steps)


def _optimizer_spec(settings: dict, steps_per_epoch: int, total_epochs: int) -> OptimizerSpec:
    """An OptimizerSpec from a complete ``optimizer`` config (as a dict)."""
    name, nesterov = settings.pop("name"), settings.pop("nesterov", False)
    schedule = settings.pop("schedule")
    hyperparams = {
        **settings,
        "warmup_epochs": schedule["warmup_epochs"],
        "step_epochs": schedule["step_epochs"],
        "gamma": schedule["gamma"],
        "steps_per_epoch": steps_per_epoch,
        "total_epochs": total_epochs,
    }
    return OptimizerSpec(name, hyperparams, nesterov=nesterov, schedule=schedule["name"])


def optimizer_spec(cfg: DictConfig, splits: DataSplits) -> OptimizerSpec:
    """The optimiser ``cfg.optimizer`` describes, with its schedule's epoch length."""
    steps_per_epoch = math.ceil(len(splits.train) / cfg.trainer.batch_size)
    return _optimizer_spec(OmegaConf.to_container(cfg.optimizer, resolve=True), steps_per_epoch, cfg.trainer.epochs)


def default_optimizer_spec(
    name: str = "sgd", steps_per_epoch: int = 1, total_epochs: int = 1, **settings: object
) -> OptimizerSpec:
    """The optimiser ``optimizer=<name>`` (a schema: sgd, adagrad, rmsprop, adadelta, adam, adamw) with
    the schema's defaults and the ``settings`` given (``schedule`` as a dict), for code that
    builds models without composing a config (tests, benchmarks)."""
    config = OmegaConf.merge(OmegaConf.structured(schema_of("optimizer", name)), settings)
    return _optimizer_spec(OmegaConf.to_container(config), steps_per_epoch, total_epochs)


def check_memory(cfg: DictConfig, splits: DataSplits) -> None:
    """Raise ConfigError when training the model ``cfg`` describes on ``splits`` would need
    more than ``trainer.max_memory_share`` of the memory this machine has available, naming
    the estimate and what to change; nothing is allocated."""
    share = cfg.trainer.max_memory_share
    if share is None:
        return
    spec = network_spec(cfg, splits)
    itemsize = np.dtype(cfg.trainer.dtype).itemsize
    needed = memory_estimate(spec, itemsize, cfg.trainer.batch_size, splits.train.inputs.shape[1])
    available = psutil.virtual_memory().available
    if needed > share * available:
        parameters = sum(math.prod(shape) for shape in param_shapes(spec).values())
        raise ConfigError(
            f"model={cfg.model.name}: training it would need about {needed / 1e9:.1f} GB ({parameters / 1e6:,.0f} M "
            f"parameters, their gradients, optimiser state and copies, and a batch's activations), more than "
            f"trainer.max_memory_share={share:g} of the {available / 1e9:.1f} GB available; make the model smaller "
            "(model.hidden_size, model.num_layers, model.embedding_dim, model.conv.filters), trainer.batch_size "
            "smaller, or use trainer.dtype=float32 (trainer.max_memory_share=null skips this check)"
        )


def build_classifier(
    cfg: DictConfig, splits: DataSplits, weights: dict[str, np.ndarray] | None = None
) -> SequenceClassifier:
    """Build the classifier ``cfg`` describes, for the shapes of ``splits``.

    Parameters are ``weights`` when given (a logged run), else a seeded initialisation.
    """
    spec = network_spec(cfg, splits)
    if weights is None:
        weights = init_network_params(spec, seed=[cfg.seed, INIT_STREAM])
    else:
        check_weight_shapes(spec, weights)
    return SequenceClassifier(
        spec,
        weights,
        optimizer=optimizer_spec(cfg, splits),
        dtype=cfg.trainer.dtype,
        seed=[cfg.seed, DROPOUT_STREAM],
        frozen=("embedding",) if cfg.model.embedding_freeze else (),
        label_smoothing=cfg.trainer.label_smoothing,
        class_weights=class_weights(cfg.trainer.class_weights, splits),
    )


def check_weight_shapes(spec: NetworkSpec, weights: dict[str, np.ndarray]) -> None:
    """Raise ConfigError when a logged run's ``weights`` do not have the shapes that ``spec``
    (the run's network sized for the inputs at hand) gives them, naming the first that differs:
    a network whose shape depends on the series' length (``model.dimension_shuffle``) takes
    series of the length it was trained on only."""
    for name, shape in param_shapes(spec).items():
        if name in weights and weights[name].shape != shape:
            raise ConfigError(
                f"the run's weights do not fit these inputs: {name} is {weights[name].shape} in the run and "
                f"{shape} for inputs of {spec.steps} steps of {spec.input_size or spec.vocab_size} features "
                "(with model.dimension_shuffle=true a model classifies series of its training length only)"
            )


def load_pretrained_embedding(model: SequenceClassifier, cfg: DictConfig, splits: DataSplits) -> float:
    """Set ``model``'s embedding from the vectors file ``cfg.model.embedding_vectors``, aligned
    to the training vocabulary (``seqlab.data.vectors.aligned_vectors``); return the share of
    the vocabulary it covers."""
    if splits.vocabulary is None:
        raise ConfigError(f"model.embedding_vectors={cfg.model.embedding_vectors}: the data has no vocabulary (texts)")
    embedding, coverage = aligned_vectors(
        cfg.model.embedding_vectors, splits.vocabulary, cfg.model.embedding_dim, seed=[cfg.seed, VECTORS_STREAM]
    )
    model.params["embedding"].set_value(embedding.astype(model.dtype))
    return coverage


def class_weights(kind: str, splits: DataSplits) -> np.ndarray | None:
    """The training loss's weight of each class: None for ``none`` (all equal), for
    ``balanced`` ``n / (classes × count of the class)`` over the training split (so that every
    class weighs as much in total; a class absent from it gets weight 0)."""
    if kind == "none":
        return None
    counts = np.bincount(splits.train.labels, minlength=splits.num_classes)
    return np.where(counts > 0, len(splits.train) / (splits.num_classes * np.maximum(counts, 1)), 0.0)


def shuffle_rng(cfg: DictConfig) -> np.random.Generator:
    """The generator that orders minibatches, seeded from ``cfg.seed``."""
    return np.random.default_rng([cfg.seed, SHUFFLE_STREAM])

"""The schemas of ``conf/data``: one per data source (generators, text tables, UCR/UEA archives)."""

import codecs
from dataclasses import dataclass
from typing import Any

from omegaconf import II, MISSING

from seqlab.data.missing import MISSING_POLICIES
from seqlab.data.normalize import NORMALIZATIONS
from seqlab.data.registry import SOURCES
from seqlab.data.text import PUNCTUATION_MODES
from seqlab.data.text_table import EMPTY_TEXT_POLICIES, SEPARATOR_NAMES, TEXT_FORMATS
from seqlab.fields import checked, fixed_name, in_range, non_negative, one_of, positive


@dataclass
class DataConfig:
    """Where the sequences come from; ``seed`` seeds generation and random splits."""

    name: str = MISSING
    seed: int = II("seed")  # the top-level seed unless set
    # Stratified k-fold cross-validation: every example (of every split the source has) is dealt
    # into `folds` folds, seeded by data.seed; fold `fold` (0-based) is the test split and the
    # validation split is held out of the others. null: the source's own test split.
    #   seqlab train -m data.folds=10 data.fold='range(10)'
    folds: int | None = checked(None, lambda v: v is None or v >= 2, "must be >= 2 or null (no cross-validation)")
    fold: int = non_negative(0)

    def cross_check(self) -> list[tuple[str, Any, str]]:
        if self.folds is None and self.fold != 0:
            return [("fold", self.fold, "needs data.folds (the number of cross-validation folds)")]
        if self.folds is not None and self.fold >= self.folds:
            return [("fold", self.fold, f"must be < data.folds ({self.folds}): folds are numbered from 0")]
        return []


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
        return super().cross_check()


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
    # Word n-grams of up to this many words follow each text's words as tokens of their own
    # (seqlab.data.text.with_ngrams), for order-free models (model=bag); 1: words only.
    ngrams: int = positive(1)
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
    # csv: null = from the extension (.tsv/.tab: tab, else comma); lines: null = whitespace.
    # One character; a tab as tab or \t (data.sep=tab).
    sep: str | None = checked(
        None, lambda v: v is None or v in SEPARATOR_NAMES or len(v) == 1, "must be one character, tab (or \\t), or null"
    )
    # A record without text: refuse (the file, naming the line) | drop (with a warning naming the lines).
    empty_texts: str = one_of("refuse", EMPTY_TEXT_POLICIES)
    # A file larger than this (MiB) is refused before it is read: a wrong file given by mistake.
    max_file_mb: float = positive(1024.0)
    # seeded, stratified by label; when no validation rows exist (0: none, train on all of train)
    val_fraction: float = validation_share(0.1)
    test_fraction: float = held_out_share(0.2)  # path without split_column or folds only

    def cross_check(self) -> list[tuple[str, Any, str]]:
        if (self.path is None) == (self.train_path is None):
            return [("path", self.path, "give either data.path (one file) or data.train_path and data.test_path")]
        if self.train_path is not None and self.test_path is None and self.folds is None:
            return [
                (
                    "test_path",
                    None,
                    "is needed with data.train_path (the test split is never held out of it), unless data.folds is set",
                )
            ]
        if self.split_column is not None and (self.path is None or self.format != "csv"):
            return [("split_column", self.split_column, "needs data.path and data.format=csv")]
        total = self.val_fraction + self.test_fraction
        if self.path is not None and self.split_column is None and self.folds is None and total >= 1:
            return [
                (
                    "test_fraction",
                    self.test_fraction,
                    f"with val_fraction {self.val_fraction}: sums to {total:g}, "
                    "which leaves no training examples; the two must sum to less than 1",
                )
            ]
        return super().cross_check()


@dataclass
class ArchiveOptions:
    """How a UCR/UEA data set is read: its validation split, encoding, normalisation, missing values."""

    val_fraction: float = validation_share(0.2)  # held out of TRAIN, seeded, stratified; 0: all of TRAIN
    encoding: str = text_encoding("utf-8")
    # none | series | dataset (statistics of the training split)
    normalize: str = one_of("dataset", NORMALIZATIONS)
    # missing values (NaN, '?'): refuse | drop (the series) | fill (interpolate): seqlab.data.missing
    missing: str = one_of("refuse", MISSING_POLICIES)
    max_len: int | None = checked(None, lambda v: v is None or v > 0, "must be > 0 or null")
    # A file larger than this (MiB) is refused before it is read: a wrong file given by mistake.
    max_file_mb: float = positive(1024.0)


@dataclass
class ArchiveDataConfig(DataConfig, ArchiveOptions):
    """A UCR (.tsv) or UEA (.ts) dataset: its TRAIN and TEST files."""

    name: str = fixed_name("archive", "data", SOURCES)
    train_path: str = MISSING
    test_path: str = MISSING
    validation_path: str | None = None  # null: val_fraction of TRAIN is held out


@dataclass
class UcrDataConfig(DataConfig, ArchiveOptions):
    """A UCR/UEA archive data set by name (``seqlab.data.archives``): downloaded once into the
    cache, or read from a local copy of the archive."""

    name: str = MISSING  # the data set's name in the archive, as spelt there: GunPoint, BasicMotions
    source: str = fixed_name("ucr", "data", SOURCES)
    # A folder holding the archive (<root>/<name>/<name>_TRAIN.ts ...): read from there, nothing downloaded.
    root: str | None = None
    # Where <name>.zip is downloaded from (timeseriesclassification.com, as aeon's load_classification).
    base_url: str = "https://timeseriesclassification.com/aeon-toolkit"

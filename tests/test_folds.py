"""Cross-validation as a protocol (``data.folds``, ``data.fold``): folds partition the data,
stratified and seeded, for generated data, text files and archives; a study runs every fold."""

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from seqlab.data.errors import DataError
from seqlab.data.raw import fold_index
from seqlab.data.registry import build_splits
from seqlab.data.sentiment import sentiment_texts
from seqlab.data.text import tokenize
from seqlab.experiments.config.validation import ConfigError, validate
from seqlab.experiments.studies.cells import study_cells
from tests.conftest import compose_config
from tests.test_loaders import load_archive, load_text, random_series, write_ts


@settings(deadline=None, max_examples=60)
@given(
    counts=st.lists(st.integers(1, 40), min_size=2, max_size=5),
    folds=st.integers(2, 10),
    seed=st.integers(0, 2**31),
)
def test_folds_partition_the_examples_keeping_each_class_share_within_one(counts, folds, seed):
    labels = [f"c{c}" for c, count in enumerate(counts) for _ in range(count)]
    labels = list(np.random.default_rng(seed).permutation(labels))  # classes interleaved, as in a file
    if len(labels) < folds:
        with pytest.raises(DataError, match=f"cannot make {folds} cross-validation folds"):
            fold_index(labels, folds, 0, seed, "few.txt")
        return
    tested = []
    for fold in range(folds):
        rest, test = fold_index(labels, folds, fold, seed, "data.txt")
        assert sorted([*rest, *test]) == list(range(len(labels))), "a fold and the rest are the whole"
        tested += list(test)
        held = Counter(labels[i] for i in test)
        for label, count in Counter(labels).items():
            assert abs(held[label] - count / folds) < 1, (fold, label, held[label], count)
        assert abs(len(test) - len(labels) / folds) < 1
        np.testing.assert_array_equal(test, fold_index(labels, folds, fold, seed, "data.txt")[1])
    assert sorted(tested) == list(range(len(labels))), "every example in exactly one test fold"


def test_another_seed_deals_other_folds():
    labels = ["a", "b"] * 50
    assert not np.array_equal(fold_index(labels, 5, 0, 1, "x")[1], fold_index(labels, 5, 0, 2, "x")[1])


@pytest.fixture
def lines_file(tmp_path):
    texts, labels = sentiment_texts(120, seed=3, min_fillers=0, max_fillers=3, negation_rate=0.5, label_noise=0)
    texts = [f"{text} only{i}" for i, text in enumerate(texts)]  # a word of each text alone
    path = tmp_path / "corpus.all"
    path.write_text("".join(f"{y} {t}\n" for t, y in zip(texts, labels, strict=True)), encoding="utf-8")
    return path, texts, labels


def test_every_text_is_tested_in_exactly_one_fold_with_a_vocabulary_of_the_other_folds(lines_file):
    path, texts, labels = lines_file
    tested = []
    for fold in range(4):
        splits = load_text(path, format="lines", folds=4, fold=fold, val_fraction=0.1)
        assert len(splits.train) + len(splits.validation) + len(splits.test) == len(texts)
        expected = fold_index(labels, 4, fold, 0, str(path))[1]  # data.seed 0, the file's order
        decoded = [
            [splits.vocabulary[t] for t, m in zip(row, mask, strict=True) if m]
            for row, mask in zip(splits.test.inputs, splits.test.mask, strict=True)
        ]
        for index, words in zip(expected, decoded, strict=True):
            assert words[:-1] == [w if w in splits.vocabulary else "<unk>" for w in tokenize(texts[index])[:-1]]
            assert words[-1] == "<unk>", "a word only its own text has is unknown when that text is tested"
        assert [splits.label_names[y] for y in splits.test.labels] == [labels[i] for i in expected]
        tested += list(expected)
    assert sorted(tested) == list(range(len(texts)))


def test_the_folds_of_train_and_test_files_pool_both(tmp_path):
    rng = np.random.default_rng(0)
    cases, labels = random_series(rng, 30, 2, ["x", "y", "z"])
    train = write_ts(tmp_path / "Toy_TRAIN.ts", cases[:20], labels[:20])
    test = write_ts(tmp_path / "Toy_TEST.ts", cases[20:], labels[20:])
    sizes = [len(load_archive(train, test, folds=3, fold=fold).test) for fold in range(3)]
    assert sizes == [10, 10, 10]
    first = load_archive(train, test, folds=3, fold=0)
    assert len(first.train) + len(first.validation) == 20
    assert sorted(np.bincount(first.test.labels)) == [3, 3, 4], "10 of each class, dealt into 3 folds"


def test_generated_data_cross_validates_its_whole_draw():
    options = {"min_len": 3, "max_len": 9, "train_size": 160, "val_size": 40, "test_size": 50, "seed": 4}
    whole = build_splits("parity", **options)
    everything = len(whole.train) + len(whole.validation) + len(whole.test)
    parts = [build_splits("parity", folds=5, fold=fold, **options) for fold in range(5)]
    assert [len(p.test) for p in parts] == [50] * 5
    assert all(len(p.train) + len(p.validation) + len(p.test) == everything for p in parts)
    assert len(parts[0].validation) == 40, "validation keeps its share of what is not tested"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.fold=2"], r"data.fold=2: needs data.folds"),
        (["data.folds=5", "data.fold=5"], r"data.fold=5: must be < data.folds \(5\)"),
        (["data.folds=1"], r"data.folds=1: must be >= 2 or null"),
    ],
)
def test_a_fold_without_folds_or_beyond_them_is_refused(overrides, message):
    with pytest.raises(ConfigError, match=message):
        validate(compose_config(overrides))


def test_a_study_runs_every_fold_of_a_cross_validated_data_set():
    study = OmegaConf.create(
        {
            "name": "cv",
            "configurations": {"elman": ["model=elman"], "gru": ["model=gru"]},
            "datasets": {"corpus": ["data=text_table", "data.path=c.all", "data.folds=3"], "sines": ["data=sines"]},
            "folder": None,
            "archives": [],
            "overrides": [],
            "seeds": 2,
        }
    )
    cells = study_cells(study)
    corpus = [c for c in cells if c.dataset == "corpus"]
    assert len(corpus) == 2 * 2 * 3 and len(cells) == 12 + 4
    assert {c.fold for c in corpus} == {0, 1, 2}
    assert all(c.overrides[-1] == f"data.fold={c.fold}" for c in corpus)
    assert len({c.key for c in cells}) == len(cells)
    study.datasets.corpus.append("data.fold=1")
    with pytest.raises(ConfigError, match=r"data set corpus: 'data.fold=1': a study runs every fold"):
        study_cells(study)

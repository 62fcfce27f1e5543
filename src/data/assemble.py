"""Turning per-split lists of raw sequences and labels (``seqlab.data.raw``) into DataSplits."""

from seqlab.data.dataset import DataSplits, SequenceDataset
from seqlab.data.errors import DataError
from seqlab.data.labels import LabelEncoder
from seqlab.data.padding import pad_sequences
from seqlab.data.raw import SPLITS, RawSplit, check_finite


def assemble(
    raw: dict[str, RawSplit],
    input_kind: str,
    max_len: int | None = None,
    vocabulary: tuple[str, ...] | None = None,
) -> DataSplits:
    """Pad every split, map labels to class indices fitted on train, and check each split;
    ``input_kind`` is what the sequences were (``INPUT_KINDS``).

    The validation split may be empty (no validation split: ``data.val_fraction=0``).

    Raises DataError naming the file for an empty training or test split, and the file and line
    for an empty sequence or a label that the training split does not have.
    """
    for name in SPLITS:
        if len(raw[name].labels) == 0 and name != "validation":
            raise DataError(raw[name].path, f"the {name} split is empty")
        for sequence, line in zip(raw[name].sequences, raw[name].lines, strict=True):
            if len(sequence) == 0:
                raise DataError(raw[name].path, "empty sequence (no tokens or values)", line)
        check_finite(raw[name])
    if len(set(raw["train"].labels)) < 2:
        labels = sorted(set(raw["train"].labels))
        raise DataError(raw["train"].path, f"the training split has one class only ({labels}): nothing to learn")
    encoder = LabelEncoder.fit(raw["train"].labels)
    datasets = {}
    for name in SPLITS:
        part = raw[name]
        if part.labels:
            inputs, mask = pad_sequences(part.sequences, max_len, source=f"{part.path} ({name})")
            labels = encoder.encode(part.labels, part.path, part.lines)
            datasets[name] = SequenceDataset(inputs, mask, labels)
        else:  # no validation split: no examples, shaped like the training split's
            train = datasets["train"]
            datasets[name] = SequenceDataset(train.inputs[:0], train.mask[:0], train.labels[:0])
    return DataSplits(
        **datasets,
        label_names=encoder.names,
        input_kind=input_kind,
        vocab_size=len(vocabulary) if vocabulary is not None else None,
        vocabulary=vocabulary,
    )

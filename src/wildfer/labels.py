"""Every expression label set wildfer knows, and the explicit maps between them.

A :class:`LabelSet` is an ordered list of class names as a dataset writes them, each tied to a
*canonical* expression (``neutral, anger, disgust, fear, happiness, sadness, surprise, contempt,
other``). Two label sets are mapped through their canonical names, never by position, so a
reader that yields FER2013 codes can feed a model trained on ABAW order without a silent reorder.

A map that would drop a class of the *source* set raises :class:`LabelMapError`; classes of the
target set with no source counterpart are simply never produced.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CANONICAL = ("neutral", "anger", "disgust", "fear", "happiness", "sadness", "surprise", "contempt", "other")

# Spellings seen in datasets and annotation headers -> canonical name.
_ALIASES = {
    "neutral": "neutral",
    "anger": "anger", "angry": "anger",
    "disgust": "disgust", "disgusted": "disgust",
    "fear": "fear", "fearful": "fear", "afraid": "fear",
    "happiness": "happiness", "happy": "happiness", "happily": "happiness", "joy": "happiness",
    "sadness": "sadness", "sad": "sadness",
    "surprise": "surprise", "surprised": "surprise",
    "contempt": "contempt",
    "other": "other",
}


class LabelMapError(ValueError):
    """Raised when labels cannot be mapped between two label sets without losing a class."""


def canonical(name: str) -> str:
    """Return the canonical expression for a dataset's spelling of it (case-insensitive)."""
    key = name.strip().lower()
    if key not in _ALIASES:
        raise LabelMapError(f"unknown expression name {name!r}; known: {sorted(set(_ALIASES))}")
    return _ALIASES[key]


@dataclass(frozen=True)
class LabelSet:
    """An ordered set of expression classes; index ``i`` is class ``names[i]``."""

    key: str
    names: tuple[str, ...]

    @property
    def canonical(self) -> tuple[str, ...]:
        return tuple(canonical(n) for n in self.names)

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        """Index of a class given any known spelling of it."""
        return self.canonical.index(canonical(name))

    def map_to(self, target: "LabelSet") -> np.ndarray:
        """Integer array ``m`` with ``m[i]`` = index in ``target`` of this set's class ``i``.

        Raises :class:`LabelMapError` if a class of this set has no counterpart in ``target``.
        """
        tgt = target.canonical
        missing = [n for n, c in zip(self.names, self.canonical) if c not in tgt]
        if missing:
            raise LabelMapError(
                f"cannot map label set {self.key!r} to {target.key!r}: {missing} have no counterpart"
            )
        return np.array([tgt.index(c) for c in self.canonical], dtype=np.int64)


ABAW7 = LabelSet("abaw7", ("Neutral", "Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise"))
ABAW8 = LabelSet("abaw8", ABAW7.names + ("Other",))
FER2013 = LabelSet("fer2013", ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"))
# Emotion columns of fer2013new.csv in file order; `unknown` and `NF` are not classes.
FERPLUS = LabelSet(
    "ferplus", ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")
)
EXPW = LabelSet("expw", FER2013.names)  # ExpW uses FER2013's order.
AFFECTNET7 = LabelSet(
    "affectnet7", ("Neutral", "Happy", "Sad", "Surprise", "Fear", "Disgust", "Anger")
)
AFFECTNET8 = LabelSet("affectnet8", AFFECTNET7.names + ("Contempt",))
RAFDB = LabelSet(
    "rafdb", ("Surprise", "Fear", "Disgust", "Happiness", "Sadness", "Anger", "Neutral")
)  # RAF-DB basic: labels 1..7 in the files, 0-based here.
# OpenCV Zoo's facial-expression MobileFaceNet (RAF-DB classes), in its output order.
OPENCV_ZOO_FER = LabelSet("opencv_zoo_fer", ("angry", "disgust", "fearful", "happy", "neutral", "sad", "surprised"))

LABEL_SETS: dict[str, LabelSet] = {
    s.key: s for s in (ABAW7, ABAW8, FER2013, FERPLUS, EXPW, AFFECTNET7, AFFECTNET8, RAFDB, OPENCV_ZOO_FER)
}


def get_label_set(key: str) -> LabelSet:
    try:
        return LABEL_SETS[key]
    except KeyError:
        raise LabelMapError(f"unknown label set {key!r}; known: {sorted(LABEL_SETS)}") from None


def label_set_from_names(names: list[str] | tuple[str, ...]) -> LabelSet:
    """Find the known label set with exactly these names in this order (case-insensitive)."""
    want = tuple(canonical(n) for n in names)
    for s in LABEL_SETS.values():
        if s.canonical == want:
            return s
    raise LabelMapError(f"no known label set has the classes {list(names)} in this order")


def remap(labels: np.ndarray, source: LabelSet, target: LabelSet, ignore: int = -1) -> np.ndarray:
    """Map integer labels from ``source`` to ``target`` order; ``ignore`` values pass through."""
    labels = np.asarray(labels, dtype=np.int64)
    m = source.map_to(target)
    out = np.full_like(labels, ignore)
    ok = labels != ignore
    if ok.any() and (labels[ok].min() < 0 or labels[ok].max() >= len(source)):
        raise LabelMapError(f"labels out of range for {source.key!r} (0..{len(source) - 1})")
    out[ok] = m[labels[ok]]
    return out

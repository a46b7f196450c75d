"""What a reader kept and dropped, and why: nothing is lost silently."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class ReadReport:
    """Counts of kept items and of dropped items by reason, with a few examples per reason.

    ``counted`` holds things noted but not dropped (e.g. annotation lines beyond the last frame).
    """

    source: str
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)
    counted: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def drop(self, reason: str, example: str | None = None, n: int = 1) -> None:
        self.dropped[reason] += n
        self._example(reason, example)

    def count(self, what: str, example: str | None = None, n: int = 1) -> None:
        self.counted[what] += n
        self._example(what, example)

    def _example(self, key: str, example: str | None) -> None:
        if example is not None:
            ex = self.examples.setdefault(key, [])
            if len(ex) < 5:
                ex.append(example)

    def merge(self, other: "ReadReport") -> None:
        self.kept += other.kept
        self.dropped.update(other.dropped)
        self.counted.update(other.counted)
        for k, v in other.examples.items():
            ex = self.examples.setdefault(k, [])
            ex.extend(v[: max(0, 5 - len(ex))])

    def as_dict(self) -> dict:
        return {
            "source": self.source,
            "kept": self.kept,
            "dropped": dict(self.dropped),
            "counted": dict(self.counted),
            "examples": self.examples,
        }

    def summary(self) -> str:
        parts = [f"{self.source}: kept {self.kept}"]
        parts += [f"dropped {n} ({reason})" for reason, n in sorted(self.dropped.items())]
        parts += [f"{n} {what}" for what, n in sorted(self.counted.items())]
        return "; ".join(parts)

"""The labelling taxonomy as configuration: heads, their label sets and definitions."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

DEFAULT_TAXONOMY = Path(__file__).with_name("taxonomy.yaml")


@dataclass(frozen=True)
class Head:
    """One labelling axis: its labels in order and what each means."""

    name: str
    labels: tuple[str, ...]
    definitions: dict[str, str]
    ordinal: bool = False
    description: str = ""
    tie_breaks: tuple[str, ...] = ()

    def index(self, label: str) -> int:
        """Position of a label; raises KeyError naming the head for an unknown label."""
        try:
            return self.labels.index(label)
        except ValueError:
            raise KeyError(f"unknown {self.name} label {label!r}; expected one of {list(self.labels)}") from None


@dataclass(frozen=True)
class Taxonomy:
    """The heads a classifier predicts, read from YAML so label sets change without code."""

    heads: dict[str, Head] = field(default_factory=dict)
    version: int = 1

    @property
    def head_names(self) -> tuple[str, ...]:
        """Head names in file order."""
        return tuple(self.heads)

    def __getitem__(self, name: str) -> Head:
        return self.heads[name]

    def validate(self, head: str, label: str | None) -> str | None:
        """Return a normalised label, or raise KeyError if it is not in the head's label set."""
        if label is None:
            return None
        normalised = str(label).strip().lower()
        self.heads[head].index(normalised)
        return normalised

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready description saved beside every model."""
        return {
            "version": self.version,
            "heads": {
                h.name: {
                    "labels": {label: {"definition": h.definitions.get(label, "")} for label in h.labels},
                    "ordinal": h.ordinal,
                    "description": h.description,
                    "tie_breaks": list(h.tie_breaks),
                }
                for h in self.heads.values()
            },
        }

    @classmethod
    def from_dict(cls, raw: dict) -> Taxonomy:
        """Build from the YAML/JSON structure."""
        heads = {}
        for name, spec in raw["heads"].items():
            labels = spec["labels"]
            definitions = {k: (v or {}).get("definition", "") for k, v in labels.items()}
            heads[name] = Head(
                name=name,
                labels=tuple(labels),
                definitions=definitions,
                ordinal=bool(spec.get("ordinal", False)),
                description=spec.get("description", ""),
                tie_breaks=tuple(spec.get("tie_breaks", ())),
            )
        return cls(heads=heads, version=int(raw.get("version", 1)))


def load_taxonomy(path: Path | str | None = None) -> Taxonomy:
    """Read a taxonomy YAML file (the shipped one by default)."""
    if path is None:
        return default_taxonomy()
    with open(path, encoding="utf-8") as f:
        return Taxonomy.from_dict(yaml.safe_load(f))


@lru_cache(maxsize=1)
def default_taxonomy() -> Taxonomy:
    """The shipped taxonomy in `data/taxonomy.yaml`."""
    with open(DEFAULT_TAXONOMY, encoding="utf-8") as f:
        return Taxonomy.from_dict(yaml.safe_load(f))

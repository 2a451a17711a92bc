"""Resolve a config's sources into labelled messages: the seed corpus, public corpora, or files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from data.corpora import CORPORA, load_corpus
from data.dataset import split_bucket
from data.loaders import LoadResult, load_table
from data.schema import LabelledMessage
from data.seed import SEED_DIR, load_seed, seed_files
from data.settings import get_settings
from data.taxonomy import Taxonomy
from training.config import SourceSpec


class SourceUnavailable(FileNotFoundError):
    """An optional source whose files are not on this machine."""


@dataclass
class LoadedSource:
    """A source's messages after its head filter, weight and row cap are applied."""

    spec: SourceSpec
    result: LoadResult
    files: list[Path]

    @property
    def label(self) -> str:
        """How the source is named in logs and metrics: `name:split`, or just `name` for a file."""
        return source_label(self.spec)


def source_label(spec: SourceSpec) -> str:
    """`name:split` for the seed corpus and public corpora, `name` for a file source."""
    return spec.name if spec.path else f"{spec.name}:{spec.split}"


def load_source(spec: SourceSpec, taxonomy: Taxonomy) -> LoadedSource:
    """Load one source; raises SourceUnavailable for a missing optional one."""
    try:
        if spec.path:
            path = Path(spec.path)
            result = load_table(path, spec.columns, source=spec.name, taxonomy=taxonomy)
            files = [path]
        elif spec.name == "seed":
            result = load_seed(spec.split)
            files = seed_files(SEED_DIR)
        else:
            if spec.name not in CORPORA:
                raise KeyError(f"unknown source {spec.name!r}: use 'seed', a corpus name {sorted(CORPORA)} or a path")
            result = load_corpus(spec.name, spec.split)
            root = get_settings().corpora_dir
            files = sorted(p for pattern in CORPORA[spec.name].files.get(spec.split, ()) for p in root.glob(pattern))
    except FileNotFoundError as e:
        if spec.required:
            raise
        raise SourceUnavailable(str(e)) from e
    result.items = _shape(result.items, spec)
    return LoadedSource(spec, result, files)


def _shape(items: list[LabelledMessage], spec: SourceSpec) -> list[LabelledMessage]:
    shaped = []
    for item in items:
        if spec.heads is not None:
            for head in ("intent", "urgency", "sentiment"):
                if head not in spec.heads:
                    setattr(item.labels, head, None)
        if item.labels.is_empty():
            continue
        item.weight *= spec.weight
        shaped.append(item)
    if spec.max_rows is not None and len(shaped) > spec.max_rows:
        # A hash order, not random.sample, so the same rows are picked on every machine.
        shaped.sort(key=lambda it: split_bucket(it.message.id, seed=11))
        shaped = shaped[: spec.max_rows]
    return shaped

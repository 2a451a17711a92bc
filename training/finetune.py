"""End-to-end fine-tuning of a sentence-transformer encoder together with the heads."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch

from models.classifier import MessageClassifier, masked_loss
from models.encoders import SentenceTransformerEncoder
from training.config import FinetuneParams


def length_bucketed_batches(lengths: Sequence[int], batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffled batches of similar-length texts: less padding, same randomness across epochs."""
    order = rng.permutation(len(lengths))
    pool = batch_size * 50
    batches = []
    for start in range(0, len(order), pool):
        chunk = order[start : start + pool]
        chunk = chunk[np.argsort([lengths[i] for i in chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def epoch_rows(groups: Sequence[str], quotas: Mapping[str, int], rng: np.random.Generator) -> np.ndarray:
    """Row indices for one epoch: every row, except that a group with a quota gives a fresh sample of that many."""
    names = np.asarray(groups, dtype=object)
    keep = [np.flatnonzero(~np.isin(names, list(quotas)))]
    for group, quota in quotas.items():
        members = np.flatnonzero(names == group)
        keep.append(rng.choice(members, size=min(quota, len(members)), replace=False) if len(members) else members)
    return np.sort(np.concatenate(keep))


class WeightAverage:
    """A running mean of the parameters of some modules, one snapshot at a time.

    Snapshots come from modules of the same architecture as the tracked ones (separately
    fine-tuned runs, averaged into a "model soup"); `apply` writes the mean into the tracked ones.
    """

    def __init__(self, modules: Sequence[torch.nn.Module]) -> None:
        self.parameters = _parameters(modules)
        self.mean_: list[torch.Tensor] = []
        self.count_ = 0

    def add(self, modules: Sequence[torch.nn.Module]) -> None:
        """Fold the current parameter values of `modules` into the mean."""
        values = _parameters(modules)
        if [v.shape for v in values] != [p.shape for p in self.parameters]:
            raise ValueError("can only average modules of the same architecture")
        self.count_ += 1
        with torch.no_grad():
            if not self.mean_:
                self.mean_ = [v.detach().clone() for v in values]
                return
            for mean, v in zip(self.mean_, values, strict=True):
                mean += (v.detach() - mean) / self.count_

    def apply(self) -> None:
        """Overwrite the tracked parameters with the mean of the snapshots added so far."""
        if not self.count_:
            raise ValueError("no snapshot to average: call add() first")
        with torch.no_grad():
            for mean, p in zip(self.mean_, self.parameters, strict=True):
                p.copy_(mean)


def _parameters(modules: Sequence[torch.nn.Module]) -> list[torch.nn.Parameter]:
    return [p for m in modules for p in m.parameters()]


def finetuned_modules(model: MessageClassifier) -> list[torch.nn.Module]:
    """The modules fine-tuning trains: the sentence-transformer and the heads."""
    encoder = model.encoder
    if not isinstance(encoder, SentenceTransformerEncoder):
        raise TypeError(f"the finetune profile needs a sentence-transformers encoder, not {encoder.name!r}")
    return [encoder.model, model.net_]


def finetune(
    model: MessageClassifier,
    texts: Sequence[str],
    targets: Mapping[str, np.ndarray],
    weights: np.ndarray,
    params: FinetuneParams,
    class_weight: str = "balanced",
    seed: int = 13,
    progress: Callable[[int], None] | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
    groups: Sequence[str] | None = None,
    quotas: Mapping[str, int] | None = None,
) -> list[float]:
    """Train encoder and heads jointly with masked per-head losses; returns mean loss per epoch.

    With `groups` (one name per row) and `quotas`, each epoch trains on `epoch_rows`: a group with
    a quota contributes a fresh sample of that many rows, every other row is used every epoch.
    """
    encoder = model.encoder
    if not isinstance(encoder, SentenceTransformerEncoder):
        raise TypeError(f"the finetune profile needs a sentence-transformers encoder, not {encoder.name!r}")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    quotas = dict(quotas or {})
    if quotas and (groups is None or len(groups) != len(texts)):
        raise ValueError("quotas need one group name per training text")
    epochs = [
        epoch_rows(groups, quotas, rng) if quotas and groups is not None else np.arange(len(texts))
        for _ in range(params.epochs)
    ]
    # Class weights follow what an epoch trains on, not the whole pool of rotating rows.
    class_weights = model.class_weights({h: v[epochs[0]] for h, v in targets.items()}, class_weight)
    if params.freeze_embeddings:
        # The token-embedding table is half of MiniLM's weights; updating it costs a lot of time
        # per step and, on a few thousand messages, mostly overfits rare tokens.
        for name, weight in encoder.model.named_parameters():
            if "word_embeddings" in name:
                weight.requires_grad_(False)
    trainable = [w for w in encoder.model.parameters() if w.requires_grad]
    optimiser = torch.optim.AdamW(
        [
            {"params": trainable, "lr": params.encoder_lr},
            {"params": model.net_.parameters(), "lr": params.head_lr},
        ],
        weight_decay=params.weight_decay,
    )
    lengths = [len(t) for t in texts]
    steps = sum((len(rows) + params.batch_size - 1) // params.batch_size for rows in epochs)
    warmup = max(1, int(steps * params.warmup_fraction))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (steps - s) / max(1, steps - warmup))
    )
    y = {h: torch.as_tensor(v) for h, v in targets.items()}
    w = torch.as_tensor(weights, dtype=torch.float32)
    history = []
    for rows in epochs:
        encoder.model.train()
        model.net_.train()
        total, batches = 0.0, 0
        for batch in length_bucketed_batches([lengths[i] for i in rows], params.batch_size, rng):
            idx = rows[batch]
            index = torch.as_tensor(idx)
            embeddings = encoder.forward([texts[i] for i in idx])
            loss = masked_loss(model.net_(embeddings), {h: t[index] for h, t in y.items()}, w[index], class_weights)
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable + list(model.net_.parameters()), 1.0)
            optimiser.step()
            schedule.step()
            total += float(loss.detach())
            batches += 1
            if progress:
                progress(len(idx))
        history.append(total / max(batches, 1))
        if on_epoch:
            on_epoch(len(history), history[-1])
    encoder.model.eval()
    model.net_.eval()
    encoder.finetuned = True
    return history

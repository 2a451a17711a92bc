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
) -> list[float]:
    """Train encoder and heads jointly with masked per-head losses; returns mean loss per epoch."""
    encoder = model.encoder
    if not isinstance(encoder, SentenceTransformerEncoder):
        raise TypeError(f"the finetune profile needs a sentence-transformers encoder, not {encoder.name!r}")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    class_weights = model.class_weights(targets, class_weight)
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
    steps = params.epochs * ((len(texts) + params.batch_size - 1) // params.batch_size)
    warmup = max(1, int(steps * params.warmup_fraction))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (steps - s) / max(1, steps - warmup))
    )
    y = {h: torch.as_tensor(v) for h, v in targets.items()}
    w = torch.as_tensor(weights, dtype=torch.float32)
    history = []
    for _ in range(params.epochs):
        encoder.model.train()
        model.net_.train()
        total, batches = 0.0, 0
        for idx in length_bucketed_batches(lengths, params.batch_size, rng):
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

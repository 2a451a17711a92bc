"""Does reviewing in queue order teach the model more than reviewing at random? A learning curve on gold labels.

Labelled messages stand in for reviewers. They are split by a hash of their id into `folds`
parts (cross-fitting): each part in turn is the test set, the others the review pool. A model is
fitted on the base data alone; its predictions on the pool give each message its queue priority.
Then the first b messages of the pool, in queue order or in a random order (several seeds),
get their gold labels as submitted reviews (weighted like `tidings retrain` does), the heads are
refitted on base data plus those reviews, and the test part is predicted. Each part's predictions
are pooled, so every budget's macro-F1 is measured on all labelled messages, each predicted by a
model that never saw its label.

The heads are per-head logistic regressions on frozen embeddings (balanced class weights), a fast
stand-in for the MLP heads the trainer fits on the same embeddings. They are not calibrated, so no
head abstains for low confidence here: queue reasons come from predicted urgency and margins.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression

from data.dataset import split_bucket
from evaluation.metrics import head_metrics
from models.prediction import HeadPrediction, Prediction

RANDOM = "random"
# Orders the pool: higher first. Given the message id and the base model's prediction.
PriorityKey = Callable[[str, Prediction], float]
_FOLD_SEED = 31


@dataclass(frozen=True)
class ReviewBenchmarkSpec:
    """Budgets, folds, random seeds and the head fitting settings; logged in the report."""

    budgets: tuple[int, ...] = (0, 25, 50, 100, 150)
    folds: int = 4
    random_seeds: int = 5
    review_weight: float = 2.0
    c: float = 1.0
    max_iter: int = 2000
    seed: int = 13

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass(frozen=True)
class LabelledSet:
    """Embeddings with their labels per head (None: unlabelled) and, for the reviewed set, message ids."""

    embeddings: np.ndarray
    labels: Mapping[str, Sequence[str | None]]
    ids: Sequence[str] = ()

    def __len__(self) -> int:
        return len(self.embeddings)


@dataclass
class CurvePoint:
    """Macro-F1 per head after `reviewed` corrections in one order (mean and sd over seeds for random)."""

    order: str
    budget: int
    reviewed: int
    macro_f1: dict[str, float]
    macro_f1_sd: dict[str, float] = field(default_factory=dict)
    # Share of the reviewed messages whose gold label differs from the starting model's: corrections found.
    corrected: dict[str, float] = field(default_factory=dict)


@dataclass
class ReviewBenchmarkResult:
    """Every curve point, the spec, and how big the pools and test parts were."""

    spec: ReviewBenchmarkSpec
    points: list[CurvePoint]
    heads: list[str]
    rows: dict[str, int]

    def curve(self, order: str, head: str) -> list[tuple[int, float, float]]:
        """(budget, macro-F1, sd) for one order and head, by budget."""
        found = [p for p in self.points if p.order == order]
        return [
            (p.budget, p.macro_f1[head], p.macro_f1_sd.get(head, 0.0)) for p in sorted(found, key=lambda p: p.budget)
        ]

    def orders(self) -> list[str]:
        """The orders compared, in the order they were run."""
        return list(dict.fromkeys(p.order for p in self.points))

    def gains(self, order: str) -> dict[str, float]:
        """Per head: the mean over non-zero budgets of this order's macro-F1 minus random's (area between curves)."""
        out = {}
        for head in self.heads:
            ours = {b: f for b, f, _ in self.curve(order, head)}
            theirs = {b: f for b, f, _ in self.curve(RANDOM, head)}
            budgets = [b for b in ours if b > 0 and b in theirs]
            out[head] = float(np.mean([ours[b] - theirs[b] for b in budgets])) if budgets else 0.0
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, with the gains over random per order."""
        return {
            "spec": self.spec.to_dict(),
            "heads": self.heads,
            "rows": self.rows,
            "points": [asdict(p) for p in self.points],
            "gain_over_random": {o: self.gains(o) for o in self.orders() if o != RANDOM},
        }


def fold_of(message_id: str, folds: int) -> int:
    """The cross-fitting part a message belongs to: a hash of its id, the same on every run."""
    return min(int(split_bucket(message_id, seed=_FOLD_SEED) * folds), folds - 1)


class Heads:
    """One logistic regression per head over fixed embeddings, predicting over the taxonomy's labels."""

    def __init__(self, labels: Mapping[str, Sequence[str]], spec: ReviewBenchmarkSpec) -> None:
        self.labels = {h: list(v) for h, v in labels.items()}
        self.spec = spec
        self.models_: dict[str, LogisticRegression] = {}

    def fit(
        self, x: np.ndarray, y: Mapping[str, Sequence[str | None]], weights: np.ndarray, start: Heads | None = None
    ) -> Heads:
        """Fit each head on the rows labelled for it; from `start`'s weights where it has the same classes.

        Starting from the base model's weights only saves time: the objective is convex, so the
        optimum reached is the same up to the solver's tolerance.
        """
        for head in self.labels:
            rows = np.array([i for i, label in enumerate(y[head]) if label is not None], dtype=np.int64)
            targets = np.array([y[head][i] for i in rows])
            model = LogisticRegression(
                C=self.spec.c,
                max_iter=self.spec.max_iter,
                class_weight="balanced",
                random_state=self.spec.seed,
                warm_start=start is not None,
            )
            previous = start.models_.get(head) if start is not None else None
            if previous is not None and list(previous.classes_) == sorted(set(targets.tolist())):
                model.coef_, model.intercept_ = previous.coef_.copy(), previous.intercept_.copy()
            model.fit(x[rows], targets, sample_weight=weights[rows])
            self.models_[head] = model
        return self

    def predict_proba(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Probabilities per head over all of the head's labels (0 for labels never seen in training)."""
        out = {}
        for head, labels in self.labels.items():
            model = self.models_[head]
            full = np.zeros((len(x), len(labels)))
            columns = [labels.index(str(c)) for c in model.classes_]
            full[:, columns] = model.predict_proba(x)
            out[head] = full
        return out

    def predictions(self, x: np.ndarray) -> list[Prediction]:
        """`Prediction`s as the queue sees them: top label and probabilities per head, no abstention."""
        probs = self.predict_proba(x)
        out = []
        for i in range(len(x)):
            heads = {}
            for head, labels in self.labels.items():
                p = probs[head][i]
                top = int(np.argmax(p))
                heads[head] = HeadPrediction(
                    labels[top], float(p[top]), {label: float(v) for label, v in zip(labels, p, strict=True)}
                )
            out.append(Prediction(heads))
        return out


def _stack(
    base: LabelledSet, reviewed: LabelledSet, chosen: np.ndarray, weight: float
) -> tuple[np.ndarray, dict[str, list[str | None]], np.ndarray]:
    x = np.concatenate([base.embeddings, reviewed.embeddings[chosen]])
    y = {h: [*base.labels[h], *(reviewed.labels[h][i] for i in chosen)] for h in base.labels}
    w = np.concatenate([np.ones(len(base)), np.full(len(chosen), weight)])
    return x, y, w


def run_review_benchmark(
    base: LabelledSet,
    reviewed: LabelledSet,
    labels: Mapping[str, Sequence[str]],
    orders: Mapping[str, PriorityKey],
    spec: ReviewBenchmarkSpec | None = None,
    progress: Callable[[str], None] | None = None,
) -> ReviewBenchmarkResult:
    """Learning curves per order in `orders` (by priority, highest first) and for random order; see the module doc.

    `base` is the data the model starts from; `reviewed` the gold-labelled messages standing in for
    reviewers, with ids; `labels` each head's label set.
    """
    spec = spec or ReviewBenchmarkSpec()
    if len(reviewed.ids) != len(reviewed):
        raise ValueError("every reviewed message needs an id")
    if spec.folds < 2 or spec.random_seeds < 1:
        raise ValueError("need at least 2 folds and 1 random seed")
    heads = list(labels)
    folds = np.array([fold_of(mid, spec.folds) for mid in reviewed.ids])
    names = [*orders, RANDOM]
    runs = {name: (spec.random_seeds if name == RANDOM else 1) for name in names}
    # predicted[(order, run, budget)][head] is a full-length array of predicted label indices.
    predicted: dict[tuple[str, int, int], dict[str, np.ndarray]] = {}
    reviewed_counts: dict[int, list[int]] = {b: [] for b in spec.budgets}
    # changed[(order, budget)][head] = [corrections, labelled reviews], summed over parts and runs.
    changed: dict[tuple[str, int], dict[str, list[int]]] = {}
    for k in range(spec.folds):
        pool, test = np.flatnonzero(folds != k), np.flatnonzero(folds == k)
        if len(test) == 0:
            continue
        if progress:
            progress(f"part {k + 1}/{spec.folds}: pool {len(pool)}, test {len(test)}")
        start = Heads(labels, spec).fit(base.embeddings, base.labels, np.ones(len(base)))
        pool_predictions = start.predictions(reviewed.embeddings[pool])
        for budget in spec.budgets:
            reviewed_counts[budget].append(min(budget, len(pool)))
        for name in names:
            for run in range(runs[name]):
                if name == RANDOM:
                    order = np.random.default_rng(spec.seed + run).permutation(pool)
                else:
                    key = orders[name]
                    pool_ids = [reviewed.ids[int(i)] for i in pool]
                    ranks = [key(mid, p) for mid, p in zip(pool_ids, pool_predictions, strict=True)]
                    # Highest priority first; ties by id, as the queue breaks them by time and then id.
                    order = pool[sorted(range(len(pool)), key=lambda j: (-ranks[j], pool_ids[j]))]
                position = {int(i): j for j, i in enumerate(pool)}
                for budget in spec.budgets:
                    chosen = order[: min(budget, len(pool))]
                    tally = changed.setdefault((name, budget), {h: [0, 0] for h in heads})
                    for i in chosen:
                        for head in heads:
                            truth = reviewed.labels[head][int(i)]
                            if truth is not None:
                                said = pool_predictions[position[int(i)]].heads[head].label
                                tally[head][0] += int(said != truth)
                                tally[head][1] += 1
                    model = (
                        start
                        if len(chosen) == 0
                        else Heads(labels, spec).fit(*_stack(base, reviewed, chosen, spec.review_weight), start)
                    )
                    probs = model.predict_proba(reviewed.embeddings[test])
                    slot = predicted.setdefault((name, run, budget), {h: np.full(len(reviewed), -1) for h in heads})
                    for head in heads:
                        slot[head][test] = probs[head].argmax(axis=1)
    points = []
    for name in names:
        for budget in spec.budgets:
            scores: dict[str, list[float]] = {h: [] for h in heads}
            for run in range(runs[name]):
                for head in heads:
                    scores[head].append(
                        _macro_f1(predicted[(name, run, budget)][head], reviewed.labels[head], labels[head])
                    )
            points.append(
                CurvePoint(
                    order=name,
                    budget=budget,
                    reviewed=int(np.sum(reviewed_counts[budget])),
                    macro_f1={h: float(np.mean(v)) for h, v in scores.items()},
                    macro_f1_sd={h: float(np.std(v)) for h, v in scores.items()} if runs[name] > 1 else {},
                    corrected={h: c / n for h, (c, n) in changed[(name, budget)].items() if n},
                )
            )
    rows = {"base": len(base), "reviewed": len(reviewed), "folds": spec.folds}
    return ReviewBenchmarkResult(spec, points, heads, rows)


def _macro_f1(predicted: np.ndarray, truth: Sequence[str | None], labels: Sequence[str]) -> float:
    """Macro-F1 over the messages labelled on this head (classes present in truth or prediction)."""
    keep = [i for i, label in enumerate(truth) if label is not None]
    y = [list(labels).index(str(truth[i])) for i in keep]
    one_hot = np.eye(len(labels))[predicted[keep]]
    return float(head_metrics(y, one_hot, labels)["macro_f1"])


def curve_png(result: ReviewBenchmarkResult, path: Path, title: str = "Review queue order vs random") -> Path:
    """One panel per head: macro-F1 against corrections per order, random with a ±1 sd band."""
    fig, axes = plt.subplots(1, len(result.heads), figsize=(4.6 * len(result.heads), 4.2), squeeze=False)
    for ax, head in zip(axes[0], result.heads, strict=True):
        for order in result.orders():
            curve = result.curve(order, head)
            budgets = [b for b, _, _ in curve]
            f1 = np.array([f for _, f, _ in curve])
            [line] = ax.plot(budgets, f1, marker="o", label=order, linestyle="--" if order == RANDOM else "-")
            if order == RANDOM:
                sd = np.array([s for _, _, s in curve])
                ax.fill_between(budgets, f1 - sd, f1 + sd, alpha=0.2, color=line.get_color())
        ax.set_title(head)
        ax.set_xlabel("corrections added")
        ax.set_ylabel("macro-F1")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def curve_table(result: ReviewBenchmarkResult) -> list[tuple[str, int, list[str]]]:
    """Rows of (head, budget, cells per order) for printing: `0.612` or `0.598 ± 0.010` for random."""
    lines = []
    for head in result.heads:
        by_order = {o: {b: (f, s) for b, f, s in result.curve(o, head)} for o in result.orders()}
        for budget in result.spec.budgets:
            cells = []
            for order in result.orders():
                f, s = by_order[order][budget]
                cells.append(f"{f:.3f} ± {s:.3f}" if order == RANDOM else f"{f:.3f}")
            lines.append((head, budget, cells))
    return lines

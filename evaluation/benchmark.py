"""`tidings benchmark`: our model beside VADER and TF-IDF + LR on public suites and gold_dev.

Each suite returns rows of (suite, metric, system, value); baselines are trained on the same
training data and selected on the same validation split as described per suite.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, recall_score

from data.corpora import load_corpus
from data.schema import LabelledMessage
from evaluation.baselines import VaderBaseline, fit_tfidf_lr
from evaluation.metrics import binary_f1
from evaluation.scoring import evaluate_items
from models.classifier import MessageClassifier

Progress = Callable[[str], None]
YOUTUBE_VIDEOS = ("psy", "katyperry", "lmfao", "eminem", "shakira")


@dataclass(frozen=True)
class BenchmarkRow:
    """One figure: a system's score on one metric of one suite."""

    suite: str
    metric: str
    system: str
    value: float
    n: int
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def _texts(items: Sequence[LabelledMessage]) -> list[str]:
    return [i.message.text for i in items]


def _labels(items: Sequence[LabelledMessage], head: str) -> list[str]:
    return [i.labels.get(head) or "" for i in items]


def semeval_suite(model: MessageClassifier, corpora_dir: Path | None = None) -> list[BenchmarkRow]:
    """SemEval-2017 4A test sentiment, macro-averaged recall.

    Baselines train on the 2013-2016 sets and pick their setting on TweetEval's validation split.
    """
    train = load_corpus("semeval2017", "train", corpora_dir).items
    val = load_corpus("tweeteval_sentiment", "val", corpora_dir).items
    test = load_corpus("semeval2017", "test", corpora_dir).items
    y_test = _labels(test, "sentiment")
    rows = []

    def recall(pred: Sequence[str]) -> float:
        return float(recall_score(y_test, pred, average="macro", zero_division=0))

    vader = VaderBaseline()
    band = vader.select_band(_texts(val), _labels(val, "sentiment"))
    rows.append(
        BenchmarkRow(
            "semeval2017", "macro_recall", "VADER", recall(vader.predict(_texts(test))), len(test), f"band {band}"
        )
    )
    lr, c = fit_tfidf_lr(_texts(train), _labels(train, "sentiment"), _texts(val), _labels(val, "sentiment"))
    rows.append(
        BenchmarkRow(
            "semeval2017", "macro_recall", "TF-IDF + LR", recall(lr.predict(_texts(test))), len(test), f"C={c}"
        )
    )
    ours = [p["sentiment"].label for p in model.predict(_texts(test))]
    rows.append(BenchmarkRow("semeval2017", "macro_recall", "Tidings", recall(ours), len(test)))
    return rows


def moderation_suite(model: MessageClassifier, task: str, corpora_dir: Path | None = None) -> list[BenchmarkRow]:
    """TweetEval offensive or hate as a binary task, macro-F1.

    Our model answers with P(intent = moderation_issue), its cut-off chosen on the validation split.
    """
    corpus = f"tweeteval_{task}"
    train, val, test = (load_corpus(corpus, s, corpora_dir).items for s in ("train", "val", "test"))

    def flag(items: Sequence[LabelledMessage]) -> list[str]:
        return ["yes" if i.labels.intent == "moderation_issue" else "no" for i in items]

    def macro(truth: Sequence[str], pred: Sequence[str]) -> float:
        return float(f1_score(truth, pred, average="macro", zero_division=0))

    y_val, y_test = flag(val), flag(test)
    lr, c = fit_tfidf_lr(_texts(train), flag(train), _texts(val), y_val, scorer="macro_f1")
    rows = [
        BenchmarkRow(corpus, "macro_f1", "TF-IDF + LR", macro(y_test, lr.predict(_texts(test))), len(test), f"C={c}")
    ]
    column = model.taxonomy["intent"].index("moderation_issue")
    p_val = model.predict_proba(_texts(val))["intent"][:, column]
    p_test = model.predict_proba(_texts(test))["intent"][:, column]

    def at(p: np.ndarray, t: float) -> list[str]:
        return ["yes" if v >= t else "no" for v in p]

    cut = max(np.linspace(0.05, 0.95, 19), key=lambda t: macro(y_val, at(p_val, t)))
    rows.append(
        BenchmarkRow(corpus, "macro_f1", "Tidings", macro(y_test, at(p_test, cut)), len(test), f"cut-off {cut:.2f}")
    )
    return rows


def youtube_suite(model: MessageClassifier, corpora_dir: Path | None = None) -> list[BenchmarkRow]:
    """YouTube spam: train on four videos, test on the fifth, all five rotations; mean spam F1.

    Three systems: TF-IDF + LR and our encoder + LR, both trained per rotation, and the
    champion as is (intent = spam), which saw none of these comments.
    """
    videos = {v: load_corpus("youtube_spam", v, corpora_dir).items for v in YOUTUBE_VIDEOS}
    vectors = {v: model.embed(_texts(items)) for v, items in videos.items()}
    scores: dict[str, list[float]] = {"TF-IDF + LR": [], "Tidings encoder + LR": [], "Tidings": []}
    n = 0
    for held_out in YOUTUBE_VIDEOS:
        train = [i for v in YOUTUBE_VIDEOS if v != held_out for i in videos[v]]
        test = videos[held_out]
        y_train = [i.labels.intent == "spam" for i in train]
        y_test = [i.labels.intent == "spam" for i in test]
        n += len(test)
        lr, _ = fit_tfidf_lr(_texts(train), y_train)
        scores["TF-IDF + LR"].append(binary_f1(y_test, lr.predict(_texts(test))))
        x_train = np.vstack([vectors[v] for v in YOUTUBE_VIDEOS if v != held_out])
        head = LogisticRegression(max_iter=2000).fit(x_train, y_train)
        scores["Tidings encoder + LR"].append(binary_f1(y_test, head.predict(vectors[held_out])))
        ours = model.predict_from_embeddings(_texts(test), vectors[held_out])
        scores["Tidings"].append(binary_f1(y_test, [p["intent"].label == "spam" for p in ours]))
    return [
        BenchmarkRow(
            "youtube_spam", "spam_f1_mean_5_rotations", system, float(np.mean(v)), n, " ".join(f"{x:.3f}" for x in v)
        )
        for system, v in scores.items()
    ]


def _interval(metrics: dict[str, Any], key: str) -> str:
    low, high = metrics["interval_95"][key]
    return f"95% interval {low:.3f}–{high:.3f}"


def gold_suite(
    model: MessageClassifier, train_items: Sequence[LabelledMessage], corpora_dir: Path | None = None
) -> tuple[list[BenchmarkRow], dict[str, Any]]:
    """gold_dev (real messages, our taxonomy): every head, against baselines trained on our training data."""
    gold = load_corpus("gold_dev", "dev", corpora_dir).items
    ours = evaluate_items(model, gold)
    rows = []
    for head, m in ours.items():
        rows.append(
            BenchmarkRow("gold_dev", f"{head}.macro_f1", "Tidings", m["macro_f1"], m["n"], _interval(m, "macro_f1"))
        )
        if "qwk" in m:
            rows.append(BenchmarkRow("gold_dev", f"{head}.qwk", "Tidings", m["qwk"], m["n"], _interval(m, "qwk")))
        ece_note = f"a perfectly calibrated model would show {m['ece_if_calibrated']:.3f} on {m['n']} messages"
        rows.append(BenchmarkRow("gold_dev", f"{head}.ece", "Tidings", m["ece"], m["n"], ece_note))
        rows.append(
            BenchmarkRow(
                "gold_dev", f"{head}.coverage_at_90_precision", "Tidings", m["coverage_at_90_precision"], m["n"]
            )
        )
        labelled = [i for i in train_items if i.labels.get(head)]
        if labelled:
            lr, _ = fit_tfidf_lr(_texts(labelled), _labels(labelled, head))
            pred = lr.predict(_texts(gold))
            truth = _labels(gold, head)
            rows.append(
                BenchmarkRow(
                    "gold_dev",
                    f"{head}.macro_f1",
                    "TF-IDF + LR",
                    float(f1_score(truth, pred, average="macro", zero_division=0)),
                    len(gold),
                    f"{len(labelled)} training rows",
                )
            )
            if "qwk" in m:
                from sklearn.metrics import cohen_kappa_score

                order = model.taxonomy[head].labels
                qwk = cohen_kappa_score(
                    [order.index(t) for t in truth], [order.index(p) for p in pred], weights="quadratic"
                )
                rows.append(BenchmarkRow("gold_dev", f"{head}.qwk", "TF-IDF + LR", float(qwk), len(gold)))
    vader = VaderBaseline()
    truth = _labels(gold, "sentiment")
    rows.append(
        BenchmarkRow(
            "gold_dev",
            "sentiment.macro_f1",
            "VADER",
            float(f1_score(truth, vader.predict(_texts(gold)), average="macro", zero_division=0)),
            len(gold),
        )
    )
    return rows, ours


SUITES = ("gold_dev", "semeval2017", "tweeteval_offensive", "tweeteval_hate", "youtube_spam")


def run_benchmark(
    model: MessageClassifier,
    train_items: Sequence[LabelledMessage],
    suites: Sequence[str] = SUITES,
    corpora_dir: Path | None = None,
    progress: Progress | None = None,
) -> tuple[list[BenchmarkRow], dict[str, Any]]:
    """Run the chosen suites; returns every row and the detailed gold_dev metrics."""
    rows: list[BenchmarkRow] = []
    details: dict[str, Any] = {}
    for suite in suites:
        if progress:
            progress(suite)
        if suite == "gold_dev":
            gold_rows, details["gold_dev"] = gold_suite(model, train_items, corpora_dir)
            rows += gold_rows
        elif suite == "semeval2017":
            rows += semeval_suite(model, corpora_dir)
        elif suite in ("tweeteval_offensive", "tweeteval_hate"):
            rows += moderation_suite(model, suite.split("_", 1)[1], corpora_dir)
        elif suite == "youtube_spam":
            rows += youtube_suite(model, corpora_dir)
        else:
            raise KeyError(f"unknown suite {suite!r}; choose from {SUITES}")
    return rows, details

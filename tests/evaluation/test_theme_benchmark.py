import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from data.settings import get_settings
from evaluation.theme_benchmark import (
    airline_month,
    intent_agreement,
    kmeans_baseline,
    month_vocabulary,
    padded_month,
    run_theme_benchmark,
    score_clustering,
)
from models.encoders import HashingEncoder
from models.themes import ThemeParams
from serving.cli import app
from tests.models.theme_messages import planted_messages

MONTH = [
    "where is my refund for the cancelled flight",
    "still no refund after the cancelled flight",
    "refund please, my flight was cancelled",
    "my bag never arrived at the carousel",
    "lost bag, nobody at the baggage desk",
    "the baggage desk lost my bag again",
]


def write_asapp(corpora: Path, tags: list[str]) -> None:
    folder = corpora / "asapp_twitter_airline_intents"
    folder.mkdir(parents=True)
    with (folder / "airlines_raw.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["first_tweet_id", "tag", "first_utterance", "context"])
        for i, tag in enumerate(tags):
            writer.writerow([i, tag, f"<cust__  __company__  message number {i} about flights __cust>", ""])


def test_intent_agreement_scores_tagged_rows_only_and_counts_outliers_as_a_cluster():
    tags = ["DELAY", "DELAY", "BAGGAGE", "BAGGAGE", None, None]
    assert intent_agreement([0, 0, 1, 1, 0, 1], tags) == (pytest.approx(1.0), pytest.approx(1.0), 4)
    # Renaming clusters changes nothing; the untagged rows never count.
    assert intent_agreement([7, 7, -1, -1, 3, 3], tags) == (pytest.approx(1.0), pytest.approx(1.0), 4)
    nmi, ari, n = intent_agreement([0, 1, 0, 1, 0, 0], tags)
    assert (nmi, n) == (pytest.approx(0.0), 4) and ari < 0
    assert intent_agreement([0, 1], [None, None]) == (0.0, 0.0, 0)
    with pytest.raises(ValueError, match="one cluster per tag"):
        intent_agreement([0, 1, 2], tags)


def test_kmeans_baseline_separates_two_obvious_subjects_and_names_them():
    doc_terms, vocabulary = month_vocabulary(MONTH, min_df=1)
    clusters, keywords = kmeans_baseline(doc_terms, vocabulary, n_clusters=2, top_n_words=3)
    assert len(set(clusters[:3].tolist())) == 1 and len(set(clusters[3:].tolist())) == 1
    assert clusters[0] != clusters[3]
    assert "refund" in keywords[clusters[0]] and "bag" in keywords[clusters[3]]
    assert all(len(words) <= 3 for words in keywords)
    with pytest.raises(ValueError, match="n_clusters"):
        kmeans_baseline(doc_terms, vocabulary, n_clusters=7)


def test_score_clustering_combines_keyword_and_tag_metrics():
    doc_terms, vocabulary = month_vocabulary(MONTH, min_df=1)
    clusters = np.array([0, 0, 0, 1, 1, -1])
    tags = ["REFUND", "REFUND", None, "BAGGAGE", "BAGGAGE", "BAGGAGE"]
    keywords = [["refund", "cancelled"], ["bag", "refund"]]
    scores = score_clustering("x", clusters, keywords, doc_terms, vocabulary, tags, 1.5)
    assert scores.n_clusters == 2 and scores.n_labelled == 5 and scores.fit_seconds == 1.5
    assert scores.outlier_share == pytest.approx(1 / 6)
    assert scores.diversity == 0.75
    # "refund" and "cancelled" always come together (NPMI 1); "bag" and "refund" never meet (-1).
    assert scores.npmi == pytest.approx((1.0 + -1.0) / 2)
    assert 0 < scores.nmi < 1


def test_airline_month_limit_keeps_tagged_messages_and_is_seeded(tmp_path):
    tags = ["UNK"] * 40 + ["DELAY", "BAGGAGE", "OTHER"]
    write_asapp(tmp_path, tags)
    texts, found = airline_month(corpora_dir=tmp_path)
    assert len(texts) == 43 and found.count(None) == 40 and texts[0] == "@airline message number 0 about flights"
    sample, sample_tags = airline_month(limit=10, corpora_dir=tmp_path)
    assert len(sample) == 10 and sorted(t for t in sample_tags if t) == ["BAGGAGE", "DELAY", "OTHER"]
    assert airline_month(limit=10, corpora_dir=tmp_path) == (sample, sample_tags)
    assert airline_month(limit=10, seed=1, corpora_dir=tmp_path)[0] != sample
    assert len([t for t in airline_month(limit=2, corpora_dir=tmp_path)[1] if t]) == 2


def test_padded_month_adds_new_untagged_semeval_tweets_up_to_the_size(tmp_path):
    folder = tmp_path / "semeval2017_task4A_sentiment" / "train_2013_2016"
    folder.mkdir(parents=True)
    rows = [f"{i}\tneutral\tsemeval tweet {i}" for i in range(20)] + ["99\tneutral\tmonth message a"]
    (folder / "twitter-2013train-A.tsv").write_text("\n".join(rows) + "\n")
    texts, tags = ["month message a", "month message b"], ["DELAY", None]
    grown, grown_tags = padded_month(texts, tags, 12, corpora_dir=tmp_path)
    assert len(grown) == 12 and grown[:2] == texts and grown_tags == ["DELAY"] + [None] * 11
    assert len(set(grown)) == 12 and all(t.startswith("semeval tweet") for t in grown[2:])
    assert padded_month(texts, tags, 12, corpora_dir=tmp_path) == (grown, grown_tags)
    assert padded_month(texts, tags, 2, corpora_dir=tmp_path) == (texts, tags)
    with pytest.raises(ValueError, match="needed to reach 40"):
        padded_month(texts, tags, 40, corpora_dir=tmp_path)


# UMAP's numba compilation alone takes minutes on a busy 2-core machine.
@pytest.mark.slow
def test_benchmark_on_the_planted_month_scores_both_systems():
    texts, subjects = planted_messages()
    tags = [None if s == "stray" or i % 2 else s for i, s in enumerate(subjects)]
    result = run_theme_benchmark(texts, HashingEncoder().encode(texts), tags, ThemeParams(word_encoder="none"))
    themes, baseline = result.scores
    assert (themes.system, baseline.system) == ("themes", "k-means on TF-IDF")
    assert themes.n_clusters == baseline.n_clusters == 3
    assert themes.nmi > 0.9 and themes.ari > 0.9
    assert themes.n_labelled == baseline.n_labelled == sum(t is not None for t in tags)
    assert {"umap", "hdbscan", "representation", "total"} <= set(result.timings)
    assert result.params["word_encoder"] == "none" and len(result.labels) == 3
    assert json.loads(json.dumps(result.to_dict()))["n_messages"] == len(texts)


@pytest.mark.slow
def test_cli_prints_both_systems_and_writes_json(tmp_path, settings, monkeypatch):
    texts, _ = planted_messages()
    monkeypatch.setenv("TIDINGS_THEMES_WORD_ENCODER", "none")
    get_settings.cache_clear()
    monkeypatch.setattr("evaluation.theme_benchmark.load_corpus", _planted_corpus(texts))
    output = tmp_path / "figures.json"
    result = CliRunner().invoke(
        app, ["benchmark-themes", "--limit", "200", "--encoder", "hashing.v1", "--output", str(output)]
    )
    assert result.exit_code == 0, result.output
    assert "NMI" in result.output and "k-means" in result.output and "hdbscan" in result.output
    figures = json.loads(output.read_text())
    assert [s["system"] for s in figures["scores"]] == ["themes", "k-means on TF-IDF"]
    assert figures["n_messages"] == 200 and figures["encoder"] == "hashing.v1"
    assert list((settings.cache_dir / "theme-benchmark").glob("hashing*.npz"))


def _planted_corpus(texts: list[str]):
    """A `load_corpus` stand-in that serves the planted month as the airline corpus."""
    from data.loaders import LoadResult
    from data.schema import LabelledMessage, Labels, Message

    def load(name, split, corpora_dir=None):
        items = [
            LabelledMessage(
                message=Message(id=f"m{i}", text=text, metadata={"tag": "UNK" if i % 3 else "DELAY"}),
                labels=Labels(),
                source=name,
            )
            for i, text in enumerate(texts)
        ]
        return LoadResult(items=items)

    return load

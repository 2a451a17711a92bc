"""Theme benchmark: the theme model on real airline-support tweets, beside k-means on TF-IDF.

The month is the ASAPP airline corpus (customers' first tweets to airline support, 43,072 of
them); 491 carry one of 14 human intent tags. Both systems are scored the same way: topic
diversity and NPMI coherence of each cluster's keywords over all messages, and NMI / ARI of
the clusters against the intent tags over the tagged messages. The baseline gets as many
clusters as the theme model found, so neither wins by cluster count alone. Messages the theme
model leaves out (-1) count as one more cluster in NMI / ARI: leaving a message out is an
answer the tags can disagree with.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.cluster import KMeans
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from data.corpora import load_corpus
from models.cache import CachedEncoder
from models.encoders import load_encoder
from models.themes import OUTLIER, ThemeModel, ThemeParams, keyword_terms, npmi_coherence, topic_diversity

CORPUS = "asapp_airline"
PADDING = "semeval2017"
UNLABELLED = "UNK"


@dataclass(frozen=True)
class ClusteringScores:
    """One system's clustering of the month and how it scores."""

    system: str
    n_clusters: int
    outlier_share: float
    diversity: float
    npmi: float
    nmi: float
    ari: float
    n_labelled: int
    fit_seconds: float


@dataclass(frozen=True)
class ThemeBenchmark:
    """Both systems' scores on one month, the theme fit's stage timings and what built it."""

    n_messages: int
    encoder: str
    encode_seconds: float
    scores: list[ClusteringScores]
    timings: dict[str, float]
    params: dict[str, Any] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def airline_month(
    limit: int | None = None, seed: int = 0, corpora_dir: Path | str | None = None
) -> tuple[list[str], list[str | None]]:
    """The ASAPP airline tweets and each one's intent tag (None when untagged).

    With `limit`, a seeded random sample of that many messages that keeps every tagged message
    the limit allows, so a quick run still scores against the tags.
    """
    items = load_corpus(CORPUS, "all", corpora_dir).items
    texts = [item.message.text for item in items]
    tags: list[str | None] = [_tag(item.message.metadata.get("tag")) for item in items]
    if limit is None or limit >= len(texts):
        return texts, tags
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    rng = np.random.default_rng(seed)
    tagged = np.flatnonzero([t is not None for t in tags])
    untagged = np.flatnonzero([t is None for t in tags])
    keep = rng.permutation(tagged)[:limit]
    keep = np.concatenate([keep, rng.permutation(untagged)[: limit - len(keep)]])
    rows = np.sort(keep)
    return [texts[i] for i in rows], [tags[i] for i in rows]


def padded_month(
    texts: Sequence[str], tags: Sequence[str | None], size: int, seed: int = 0, corpora_dir: Path | str | None = None
) -> tuple[list[str], list[str | None]]:
    """The month grown to `size` messages with untagged SemEval-2017 tweets (a seeded sample), for timing big months.

    A brand's month mixes its support traffic with everything else people tweet at it; the
    SemEval tweets stand in for the rest. Raises ValueError when the corpus is too small.
    """
    missing = size - len(texts)
    if missing <= 0:
        return list(texts), list(tags)
    seen = {" ".join(t.split()).casefold() for t in texts}
    pool = [i.message.text for i in load_corpus(PADDING, "train", corpora_dir).items]
    pool = [t for t in dict.fromkeys(pool) if " ".join(t.split()).casefold() not in seen]
    if len(pool) < missing:
        raise ValueError(f"{PADDING} has {len(pool)} new tweets, {missing} are needed to reach {size}")
    rows = np.sort(np.random.default_rng(seed).choice(len(pool), size=missing, replace=False))
    return [*texts, *(pool[i] for i in rows)], [*tags, *([None] * missing)]


def _tag(value: object) -> str | None:
    return None if value in (None, "", UNLABELLED) else str(value)


def encode_month(texts: Sequence[str], encoder: str, cache_dir: Path) -> tuple[np.ndarray, float]:
    """The texts' embeddings through an on-disk cache under `cache_dir`, and the seconds it took."""
    start = time.perf_counter()
    cached = CachedEncoder(load_encoder(encoder), cache_dir)
    vectors = cached.encode(texts, batch_size=64)
    return vectors, time.perf_counter() - start


def intent_agreement(clusters: Sequence[int], tags: Sequence[str | None]) -> tuple[float, float, int]:
    """NMI and ARI of the clusters against the tags over the tagged messages, and how many those are.

    Outliers (-1) are one cluster of their own. (0.0, 0.0, 0) when no message is tagged.
    """
    if len(clusters) != len(tags):
        raise ValueError(f"one cluster per tag needed: {len(clusters)} clusters, {len(tags)} tags")
    rows = [i for i, tag in enumerate(tags) if tag is not None]
    if not rows:
        return 0.0, 0.0, 0
    found = [int(clusters[i]) for i in rows]
    truth = [str(tags[i]) for i in rows]
    return (
        float(normalized_mutual_info_score(truth, found)),
        float(adjusted_rand_score(truth, found)),
        len(rows),
    )


def month_vocabulary(texts: Sequence[str], min_df: int) -> tuple[sparse.csr_matrix, dict[str, int]]:
    """Message-term counts over the theme model's keyword terms, and the vocabulary they index."""
    vectorizer = CountVectorizer(analyzer=keyword_terms, min_df=min_df)
    counts = vectorizer.fit_transform(texts)
    return sparse.csr_matrix(counts), {term: int(col) for term, col in vectorizer.vocabulary_.items()}


def kmeans_baseline(
    doc_terms: sparse.spmatrix, vocabulary: dict[str, int], n_clusters: int, top_n_words: int = 10, seed: int = 0
) -> tuple[np.ndarray, list[list[str]]]:
    """k-means on the messages' L2-normalised TF-IDF: each message's cluster and each cluster's keywords.

    A cluster's keywords are the terms with the largest weight in its centroid.
    """
    if not 1 <= n_clusters <= doc_terms.shape[0]:
        raise ValueError(f"n_clusters must be between 1 and {doc_terms.shape[0]}, got {n_clusters}")
    tfidf = TfidfTransformer(sublinear_tf=True).fit_transform(doc_terms)
    kmeans = KMeans(n_clusters=n_clusters, n_init=1, random_state=seed).fit(tfidf)
    terms = np.empty(len(vocabulary), dtype=object)
    for term, col in vocabulary.items():
        terms[col] = term
    keywords = [
        [str(terms[col]) for col in np.argsort(-centre, kind="stable")[:top_n_words] if centre[col] > 0]
        for centre in kmeans.cluster_centers_
    ]
    return np.asarray(kmeans.labels_, dtype=np.int64), keywords


def score_clustering(
    system: str,
    clusters: np.ndarray,
    keyword_lists: Sequence[Sequence[str]],
    doc_terms: sparse.spmatrix,
    vocabulary: dict[str, int],
    tags: Sequence[str | None],
    fit_seconds: float,
) -> ClusteringScores:
    """Diversity and NPMI of the keywords, NMI and ARI against the tags, for one system's clustering."""
    nmi, ari, n_labelled = intent_agreement(clusters.tolist(), tags)
    return ClusteringScores(
        system=system,
        n_clusters=len(keyword_lists),
        outlier_share=float((clusters == OUTLIER).mean()) if len(clusters) else 0.0,
        diversity=topic_diversity(keyword_lists),
        npmi=npmi_coherence(keyword_lists, doc_terms, vocabulary),
        nmi=nmi,
        ari=ari,
        n_labelled=n_labelled,
        fit_seconds=fit_seconds,
    )


def run_theme_benchmark(
    texts: Sequence[str],
    embeddings: np.ndarray,
    tags: Sequence[str | None],
    params: ThemeParams | None = None,
    encoder: str = "",
    encode_seconds: float = 0.0,
) -> ThemeBenchmark:
    """Theme the month, cluster it with the baseline into as many clusters, and score both."""
    params = params or ThemeParams()
    texts = list(texts)
    start = time.perf_counter()
    model = ThemeModel(params).fit(texts, embeddings)
    theme_seconds = time.perf_counter() - start
    doc_terms, vocabulary = month_vocabulary(texts, ThemeParams.min_df(len(texts)))
    theme_keywords = [theme.keywords for theme in model.themes_]
    scores = [score_clustering("themes", model.labels_, theme_keywords, doc_terms, vocabulary, tags, theme_seconds)]
    if model.themes_:
        start = time.perf_counter()
        clusters, keywords = kmeans_baseline(doc_terms, vocabulary, len(model.themes_), params.top_n_words, params.seed)
        seconds = time.perf_counter() - start
        scores.append(score_clustering("k-means on TF-IDF", clusters, keywords, doc_terms, vocabulary, tags, seconds))
    return ThemeBenchmark(
        n_messages=len(texts),
        encoder=encoder,
        encode_seconds=encode_seconds,
        scores=scores,
        timings={**model.timings_, "total": theme_seconds},
        params=params.to_dict(),
        labels=[f"{theme.label} ({theme.size})" for theme in model.themes_],
    )

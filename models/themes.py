"""`ThemeModel`: a month's recurring subjects ("themes") found in the messages' stored embeddings.

A thin facade over BERTopic: UMAP (cosine, seeded) reduces the stored embeddings, HDBSCAN
clusters them, c-TF-IDF names the clusters and, when a word encoder is available, the
KeyBERT-inspired and maximal-marginal-relevance representations refine the names. Confident
outliers then join their most similar theme; sizes, centroids and quotes come from that final
assignment, while keywords describe the clusters as HDBSCAN found them.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

from models.encoders import Encoder, load_encoder
from models.reduction import SampledUMAP

if TYPE_CHECKING:
    from bertopic import BERTopic

MIN_TEXTS = 10
OUTLIER = -1
# Texts this alike (mean cosine similarity to their mean direction) are one cluster of near-duplicates;
# HDBSCAN never returns a single cluster and would cut it at random. Real months measure 0.4-0.6.
ONE_CLUSTER_SIMILARITY = 0.9
LABEL_SEPARATOR = " · "
_NOISE = re.compile(r"https?://\S+|www\.\S+|@\w+|['’]s\b")
_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*|\S")
_DIGIT = re.compile(r"\d")
_SUFFIXES = ("ations", "ation", "ings", "ing", "ed", "s")
# Words the platforms add rather than the authors: retweet and "via" markers, and HTML entities
# left in scraped text (&amp; &gt; &lt;). "rt" once labelled a whole theme of retweets.
PLATFORM_WORDS = frozenset({"rt", "via", "amp", "gt", "lt", "quot"})


@dataclass(frozen=True)
class ThemeParams:
    """Hyperparameters of a monthly theme fit.

    `min_topic_size`, `min_theme_share` and `max_theme_share` bound a theme's size in a month of
    n messages (see `min_cluster_size` and `max_cluster_size`); `n_neighbors` (capped at n - 1),
    `n_components` and `seed` configure UMAP, so the same input gives the same themes; outliers
    whose cosine similarity to a theme's mean embedding reaches `outlier_threshold` join that
    theme; each theme keeps `top_n_words` keywords, up to `representatives` quotes and
    `label_words` key phrases in its label. `word_encoder` names the encoder
    (`models.encoders.load_encoder`) that embeds candidate keywords for the KeyBERT-inspired and
    MMR representations; "none" keeps plain c-TF-IDF keywords and needs no weights. A month of
    more than `umap_fit_rows` messages fits UMAP on a seeded sample of that many and projects the
    rest (`models.reduction.SampledUMAP`); 0 fits on every message. On the 42,311 airline tweets
    (idle 2-core machine) a 12,000 sample took UMAP 39 s against 49 s for the whole month and gave
    25 coarser themes instead of 36, so sampling starts only above 50,000 messages (the largest month
    measured whole: 71 s).

    Theme counts under these size bounds and under the earlier rule (`min_cluster_size` capped
    at 10, no maximum), MiniLM embeddings unless noted, measured 2026-11 on 2 shared cores
    (small months vary by a theme or two between processes: UMAP on 200 points is that fragile):

    | month                              | n      | min / max size | themes, earlier -> now | no theme before |
    |------------------------------------|--------|----------------|------------------------|------------------|
    | gold_dev, all real messages        | 201    | 8 / 100        | 2-3 -> 4-6             | 22-33%           |
    | gold_dev without spam              | 188    | 7 / 94         | 5 -> 5                 | 18%              |
    | planted test month (hashing)       | 252    | 10 / 126       | 3 -> 3                 | 0%               |
    | ASAPP airline tweets, sample       | 2,000  | 10 / 1,000     | 2 (1,987 + 13) -> 35   | 42%              |
    | ASAPP airline tweets, all          | 42,311 | 172 / 21,155   | 343 -> 36              | 43%              |
    """

    min_topic_size: int = 10
    n_neighbors: int = 15
    n_components: int = 5
    seed: int = 42
    outlier_threshold: float = 0.3
    top_n_words: int = 10
    representatives: int = 5
    label_words: int = 3
    word_encoder: str = "minilm-l6.v1"
    min_theme_share: float = 0.004
    max_theme_share: float = 0.5
    umap_fit_rows: int = 50_000

    def __post_init__(self) -> None:
        for name in ("min_theme_share", "max_theme_share", "outlier_threshold"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {getattr(self, name)}")
        if self.umap_fit_rows < 0:
            raise ValueError(f"umap_fit_rows must be 0 (no sampling) or positive, got {self.umap_fit_rows}")
        if self.min_topic_size < 2:
            raise ValueError(f"min_topic_size must be at least 2, got {self.min_topic_size}")

    def min_cluster_size(self, n_texts: int) -> int:
        """HDBSCAN's `min_cluster_size` for a month of `n_texts`.

        `max(3, min(min_topic_size, n // 25), round(min_theme_share * n))`: a month of 200
        messages can hold themes of 8 rather than 10, while from 2,500 messages on a theme must
        hold `min_theme_share` of the month (200 of 50,000), so a big month gives a few dozen
        themes a lead can read instead of hundreds of fragments.
        """
        return max(3, min(self.min_topic_size, n_texts // 25), round(self.min_theme_share * n_texts))

    def max_cluster_size(self, n_texts: int) -> int:
        """HDBSCAN's `max_cluster_size`: `max_theme_share` of the month, 0 (no limit) when the share is 0.

        HDBSCAN's excess-of-mass selection keeps a parent cluster whose stability beats its
        children's; in a small month that parent is often everything but one odd group (159 of
        201 real messages beside 41 spam comments: two themes). A cluster over the limit is
        replaced by its children, so no theme holds more than this share of a month.
        """
        return int(self.max_theme_share * n_texts)

    @staticmethod
    def min_df(n_texts: int) -> int:
        """Messages a term must occur in to be a keyword: 1 below 2,000 messages, up to 5 from 5,000."""
        return min(5, max(1, n_texts // 1000))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ThemeParams:
        """Inverse of `to_dict`, ignoring unknown keys from newer versions."""
        return cls(**{k: v for k, v in raw.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Theme:
    """One theme of a fit. Equality ignores `centroid` (compare it with `np.array_equal`)."""

    index: int
    label: str
    keywords: list[str]
    size: int
    centroid: np.ndarray = field(compare=False)
    representatives: list[int]


class ThemeModel:
    """Themes of one month of messages, from their texts and stored embeddings.

    Fitted attributes: `labels_` (theme index per text, -1 for an outlier), `themes_` (by size,
    largest first), `outlier_share_before_` and `outlier_share_` (before and after outlier
    reduction), `min_cluster_size_` and `max_cluster_size_` (HDBSCAN's, see `ThemeParams`),
    `metrics_` (`n_themes`, `outlier_share`, `outlier_share_before`, `diversity`, `npmi`) and
    `timings_` (seconds in `umap`, `hdbscan`, `representation`, i.e. c-TF-IDF and keyword
    models, and `outliers`, i.e. outlier reduction; a stage that did not run is absent).

    Degenerate months: fewer than `MIN_TEXTS` distinct texts, or texts without a single keyword,
    raise `ValueError`. Near-duplicates only (one cluster: HDBSCAN never returns a single cluster
    and would cut it at random) and months where HDBSCAN finds no cluster fit zero themes, every
    text an outlier.
    """

    def __init__(self, params: ThemeParams | None = None) -> None:
        self.params = params or ThemeParams()
        self._word_encoder: Encoder | None = None

    def fit(self, texts: Sequence[str], embeddings: np.ndarray) -> ThemeModel:
        """Cluster the stored embeddings and describe each theme.

        The word encoder embeds only candidate keywords and a few messages per theme, never the month.
        """
        texts = list(texts)
        vectors = np.asarray(embeddings, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(texts):
            raise ValueError(f"embeddings must be one row per text: got {vectors.shape} for {len(texts)} texts")
        distinct = len({_text_key(t) for t in texts})
        if distinct < MIN_TEXTS:
            raise ValueError(f"theming needs at least {MIN_TEXTS} distinct texts, got {distinct} of {len(texts)}")
        vocabulary = _vocabulary_vectorizer(min_df=self.params.min_df(len(texts)))
        try:
            doc_terms = vocabulary.fit_transform(texts)
        except ValueError as e:
            raise ValueError(
                "the texts have no keywords to describe themes with (only stop words, numbers, links)"
            ) from e

        self.min_cluster_size_ = self.params.min_cluster_size(len(texts))
        self.max_cluster_size_ = self.params.max_cluster_size(len(texts))
        self.timings_: dict[str, float] = {}
        if _concentration(vectors) >= ONE_CLUSTER_SIMILARITY:
            before = after = np.full(len(texts), OUTLIER, dtype=np.int64)
            keywords_of: dict[int, list[str]] = {}
        else:
            before, after, keywords_of = self._cluster(texts, vectors, vocabulary.vocabulary_)

        # BERTopic numbers topics by size before outlier reduction; themes are ordered by final size.
        found = sorted(set(after.tolist()) - {OUTLIER}, key=lambda t: (-int((after == t).sum()), t))
        self.labels_ = np.full(len(texts), OUTLIER, dtype=np.int64)
        members_of = [np.flatnonzero(after == topic) for topic in found]
        names = distinct_labels(
            [keywords_of[topic] for topic in found],
            [
                supported_keywords(keywords_of[t], doc_terms[m], vocabulary.vocabulary_)
                for t, m in zip(found, members_of, strict=True)
            ],
            self.params.label_words,
        )
        self.themes_: list[Theme] = []
        for index, (topic, members, name) in enumerate(zip(found, members_of, names, strict=True)):
            self.labels_[members] = index
            self.themes_.append(self._theme(index, keywords_of[topic], name, members, texts, vectors))

        self.outlier_share_before_ = float((before == OUTLIER).mean())
        self.outlier_share_ = float((self.labels_ == OUTLIER).mean())
        keyword_lists = [theme.keywords for theme in self.themes_]
        self.metrics_: dict[str, float] = {
            "n_themes": len(self.themes_),
            "outlier_share": self.outlier_share_,
            "outlier_share_before": self.outlier_share_before_,
            "diversity": topic_diversity(keyword_lists),
            "npmi": npmi_coherence(keyword_lists, doc_terms, vocabulary.vocabulary_),
        }
        return self

    def _cluster(
        self, texts: list[str], vectors: np.ndarray, vocabulary: Mapping[str, int]
    ) -> tuple[np.ndarray, np.ndarray, dict[int, list[str]]]:
        """BERTopic's topics before and after outlier reduction, and each topic's keywords."""
        topic_model = self._topic_model(len(texts), vocabulary)
        start = time.perf_counter()
        topics, _ = topic_model.fit_transform(texts, vectors)
        # What BERTopic does after clustering: c-TF-IDF, KeyBERT-inspired and MMR keywords.
        self.timings_["representation"] = time.perf_counter() - start - sum(self.timings_.values())
        before = np.asarray(topics, dtype=np.int64)
        after = before
        # reduce_outliers refuses a fit without outliers, and with no topic there is nothing to join.
        if (before == OUTLIER).any() and (before != OUTLIER).any():
            start = time.perf_counter()
            reduced = topic_model.reduce_outliers(
                texts, topics, strategy="embeddings", embeddings=vectors, threshold=self.params.outlier_threshold
            )
            self.timings_["outliers"] = time.perf_counter() - start
            after = np.asarray(reduced, dtype=np.int64)
        keywords_of = {
            topic: [word for word, _ in topic_model.get_topic(topic) or [] if word][: self.params.top_n_words]
            for topic in set(before.tolist()) - {OUTLIER}
        }
        return before, after, keywords_of

    def _theme(
        self,
        index: int,
        keywords: list[str],
        label: str,
        members: np.ndarray,
        texts: list[str],
        vectors: np.ndarray,
    ) -> Theme:
        centroid = _unit(vectors[members].mean(axis=0))
        closeness = _unit(vectors[members]) @ centroid
        quotes: list[int] = []
        seen: set[str] = set()
        for row in members[np.argsort(-closeness, kind="stable")]:
            key = _text_key(texts[row])
            if key not in seen:
                seen.add(key)
                quotes.append(int(row))
            if len(quotes) == self.params.representatives:
                break
        return Theme(
            index=index,
            label=label or f"theme {index}",
            keywords=keywords,
            size=len(members),
            centroid=centroid.astype(np.float32),
            representatives=quotes,
        )

    def _topic_model(self, n_texts: int, vocabulary: Mapping[str, int]) -> BERTopic:
        from bertopic import BERTopic
        from bertopic.vectorizers import ClassTfidfTransformer
        from hdbscan import HDBSCAN

        p = self.params
        word_model = self._word_model()
        return BERTopic(
            # language=None: BERTopic would otherwise strip punctuation before our vectorizer sees the text.
            language=None,
            top_n_words=p.top_n_words,
            embedding_model=word_model,
            umap_model=_timed(
                SampledUMAP(
                    p.umap_fit_rows,
                    p.seed,
                    n_neighbors=min(p.n_neighbors, n_texts - 1),
                    n_components=p.n_components,
                    min_dist=0.0,
                    metric="cosine",
                    n_jobs=1,
                ),
                "fit_transform",
                self.timings_,
                "umap",
            ),
            hdbscan_model=_timed(
                HDBSCAN(
                    min_cluster_size=self.min_cluster_size_,
                    max_cluster_size=self.max_cluster_size_,
                    metric="euclidean",
                    prediction_data=True,
                ),
                "fit",
                self.timings_,
                "hdbscan",
            ),
            # BERTopic fits its vectorizer on one joined document per topic, so `min_df` there would count
            # topics and drop each theme's own words; the vocabulary is chosen over the messages instead.
            vectorizer_model=_vocabulary_vectorizer(vocabulary=vocabulary),
            ctfidf_model=ClassTfidfTransformer(reduce_frequent_words=True),
            representation_model=_keyword_representation(p.top_n_words) if word_model else None,
        )

    def _word_model(self) -> Any:
        name = self.params.word_encoder
        if name == "none":
            return None
        if self._word_encoder is None or self._word_encoder.name != name:
            self._word_encoder = load_encoder(name)
        return _word_backend(self._word_encoder)


def _timed(estimator: Any, method: str, timings: dict[str, float], stage: str) -> Any:
    """`estimator` with the seconds spent in `method` added to `timings[stage]`."""
    # Wrapping the instance's method, not subclassing, keeps BERTopic's isinstance checks on HDBSCAN working.
    inner = getattr(estimator, method)

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - start

    setattr(estimator, method, timed)
    return estimator


def _word_backend(encoder: Encoder) -> Any:
    """`encoder` as a BERTopic embedding backend that embeds each distinct string once per fit."""
    from bertopic.backend import BaseEmbedder

    class WordEmbedder(BaseEmbedder):
        def __init__(self) -> None:
            super().__init__()
            self.vectors: dict[str, np.ndarray] = {}

        def embed(self, documents: Sequence[str], verbose: bool = False) -> np.ndarray:
            missing = [d for d in dict.fromkeys(documents) if d not in self.vectors]
            if missing:
                self.vectors.update(zip(missing, encoder.encode(missing, batch_size=256), strict=True))
            return np.stack([self.vectors[d] for d in documents]) if documents else np.zeros((0, encoder.dim))

    return WordEmbedder()


def _keyword_representation(top_n_words: int) -> list[Any]:
    """KeyBERT-inspired keywords, then maximal marginal relevance to keep them diverse."""
    from bertopic.representation import BaseRepresentation, KeyBERTInspired, MaximalMarginalRelevance

    class EmbedTopicWords(BaseRepresentation):
        # MMR embeds each topic's joined keywords one topic at a time; embedding them all in one
        # batch first cut MMR from 200 s to 1 s in a fit of 50,000 messages (402 topics, 2 cores).
        def extract_topics(self, topic_model: Any, documents: Any, c_tf_idf: Any, topics: Any) -> Any:
            topic_model.embedding_model.embed([" ".join(w for w, _ in words) for words in topics.values()])
            return topics

    # MMR keeps `top_n_words` of the words it is given, so it needs more than that to choose from.
    # In a list BERTopic hands KeyBERTInspired no embeddings, so it embeds its 5 representative
    # messages per topic with the word encoder; 0.17.4 would misindex stored ones anyway.
    return [
        KeyBERTInspired(top_n_words=2 * top_n_words),
        EmbedTopicWords(),
        MaximalMarginalRelevance(diversity=0.3, top_n_words=top_n_words),
    ]


def keyword_terms(text: str) -> list[str]:
    """The words and two-word phrases a text offers as keywords.

    Links, @handles, possessive 's, words with digits (numbers, flight and order ids),
    contractions, English stop words and `PLATFORM_WORDS` ("rt", "via", HTML entities) are dropped.
    Unlike scikit-learn's analyzer, a phrase never spans a stop word or punctuation ("team, my
    order" gives no "team order").
    """
    terms: list[str] = []
    previous = None
    for token in _TOKEN.findall(_NOISE.sub(" ", text.lower())):
        # Numbers and ids with digits (flight "dl1345", order "a48213"), single characters,
        # contractions and punctuation end a phrase like stop words.
        if (
            len(token) < 2
            or not token.isalnum()
            or _DIGIT.search(token)
            or token in ENGLISH_STOP_WORDS
            or token in PLATFORM_WORDS
        ):
            previous = None
            continue
        terms.append(token)
        if previous is not None:
            terms.append(f"{previous} {token}")
        previous = token
    return terms


def _vocabulary_vectorizer(min_df: int = 1, vocabulary: Mapping[str, int] | None = None) -> CountVectorizer:
    return CountVectorizer(analyzer=keyword_terms, min_df=min_df, vocabulary=vocabulary)


def supported_keywords(
    keywords: Sequence[str], member_terms: sparse.spmatrix, vocabulary: Mapping[str, int], min_share: float = 0.05
) -> list[str]:
    """The keywords that at least `max(2, min_share of the theme)` of its messages contain, in order.

    A label should name what several messages say: KeyBERT-inspired keywords are chosen by
    meaning and can come from one odd message ("elevator" in a theme about deliveries). All the
    keywords when none is that common, so a theme always has a label.
    """
    present = (sparse.csc_matrix(member_terms) > 0).sum(axis=0).A1
    needed = max(2, int(np.ceil(min_share * member_terms.shape[0])))
    common = [k for k in keywords if k in vocabulary and present[vocabulary[k]] >= needed]
    return common or list(keywords)


def distinct_labels(
    keyword_lists: Sequence[Sequence[str]], supported_lists: Sequence[Sequence[str]], n_phrases: int
) -> list[str]:
    """One label per theme from its supported keywords; themes that would share a label get more phrases.

    Three themes all called "airline" tell a lead nothing, so each label in a clash grows by one
    phrase at a time (from the supported keywords, then the rest), for up to three more phrases.
    """
    pools = [[*sup, *(k for k in kws if k not in sup)] for kws, sup in zip(keyword_lists, supported_lists, strict=True)]
    labels = [theme_label(sup, n_phrases) for sup in supported_lists]
    for _ in range(3):
        clashes = {label for label in labels if label and labels.count(label) > 1}
        if not clashes:
            break
        labels = [
            theme_label(pool, len(label.split(LABEL_SEPARATOR)) + 1) if label in clashes else label
            for pool, label in zip(pools, labels, strict=True)
        ]
    return labels


def theme_label(keywords: Sequence[str], n_phrases: int) -> str:
    """Up to `n_phrases` keywords, best first, none repeating a word stem of an earlier one.

    Two keywords that also appear together as a keyword phrase are shown as that phrase
    ("cancelled", "order" and "cancelled order" give "cancelled order").
    """
    singles = set(keywords)
    pairs = [k for k in keywords if len(k.split()) > 1 and singles.issuperset(k.split())]
    used: set[str] = set()
    phrases: list[str] = []
    for keyword in filter(str.strip, keywords):
        candidates = [k for k in pairs if keyword in k.split()] + [keyword]
        fresh = [k for k in candidates if not _stems(k) & used]
        if not fresh:
            continue
        phrase = fresh[0]
        used |= _stems(phrase)
        phrases.append(phrase)
        if len(phrases) == n_phrases:
            break
    return LABEL_SEPARATOR.join(phrases)


def _stems(phrase: str) -> set[str]:
    return {_stem(word) for word in phrase.split()}


def _stem(word: str) -> str:
    # Crude suffix stripping, only to keep "refund" and "refunds" out of the same label.
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and not word.endswith("ss") and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    word = word.removesuffix("e") if len(word) > 3 else word
    return word[:-1] if len(word) > 3 and word[-1] == word[-2] else word


def topic_diversity(keyword_lists: Sequence[Sequence[str]]) -> float:
    """Share of distinct keywords among all themes' keywords (1.0: no theme repeats another's); 0.0 for no themes."""
    total = sum(len(words) for words in keyword_lists)
    return len({word for words in keyword_lists for word in words}) / total if total else 0.0


def npmi_coherence(
    keyword_lists: Sequence[Sequence[str]], doc_terms: sparse.spmatrix, vocabulary: Mapping[str, int]
) -> float:
    """Mean over themes of the mean NPMI of each pair of a theme's keywords, in [-1, 1]; 0.0 for no themes.

    Each message is one co-occurrence window: p(w) is the share of messages containing w, p(w, v)
    the share containing both, NPMI = log(p(w, v) / (p(w) p(v))) / -log p(w, v), -1 for a pair
    that never co-occurs and 1 for one that occurs in every message. Keywords outside the
    vocabulary are skipped; themes with fewer than two keywords left are not scored.
    """
    present = (sparse.csc_matrix(doc_terms) > 0).astype(np.float64)
    n_docs = present.shape[0]
    scores = []
    for words in keyword_lists:
        columns = [vocabulary[w] for w in dict.fromkeys(words) if w in vocabulary]
        if len(columns) < 2:
            continue
        sub = present[:, columns]
        joint = np.asarray((sub.T @ sub).todense()) / n_docs
        pairs = itertools.combinations(range(len(columns)), 2)
        scores.append(float(np.mean([_npmi(joint[i, j], joint[i, i], joint[j, j]) for i, j in pairs])))
    return float(np.mean(scores)) if scores else 0.0


def _npmi(p_joint: float, p_a: float, p_b: float) -> float:
    if p_joint <= 0.0:
        return -1.0
    if p_joint >= 1.0:
        return 1.0
    return float(np.log(p_joint / (p_a * p_b)) / -np.log(p_joint))


def _concentration(vectors: np.ndarray) -> float:
    units = _unit(vectors)
    return float(np.linalg.norm(units.mean(axis=0)))


def _text_key(text: str) -> str:
    return " ".join(text.split()).casefold()


def _unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(norms == 0, 1.0, norms)

import dataclasses

import numpy as np
import pytest
from scipy import sparse
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

from data.corpora import available, load_corpus
from models.encoders import HashingEncoder, load_encoder
from models.themes import (
    LABEL_SEPARATOR,
    ThemeModel,
    ThemeParams,
    distinct_labels,
    keyword_terms,
    npmi_coherence,
    supported_keywords,
    theme_label,
    topic_diversity,
)
from tests.models.theme_messages import planted_messages

FAST = ThemeParams(word_encoder="none")
SUBJECT_WORDS = {"refund": "refund", "login": "password", "dark_mode": "dark mode"}


@pytest.fixture(scope="module")
def month() -> tuple[list[str], list[str], np.ndarray]:
    texts, subjects = planted_messages()
    return texts, subjects, HashingEncoder().encode(texts)


@pytest.fixture(scope="module")
def fitted(month) -> ThemeModel:
    texts, _, embeddings = month
    return ThemeModel(FAST).fit(texts, embeddings)


def assert_planted_themes(model: ThemeModel, texts: list[str], subjects: list[str]) -> None:
    """Every subject has a theme made mostly of its messages whose keywords name it ("refunded" names "refund")."""
    for subject, word in SUBJECT_WORDS.items():
        matching = []
        for theme in model.themes_:
            members = [subjects[i] for i in np.flatnonzero(model.labels_ == theme.index)]
            if members.count(subject) > len(members) / 2 and any(word in k for k in theme.keywords):
                matching.append(theme.label)
        assert matching, f"no theme for {subject}: {[(t.label, t.keywords) for t in model.themes_]}"
    for theme in model.themes_:
        words = [w for phrase in theme.keywords for w in phrase.split()]
        assert not [w for w in words if w.isdigit() or w in {"https", "co", "x8kq2", "support", "helpdesk"}], (
            theme.keywords
        )
        assert not set(words) & ENGLISH_STOP_WORDS, theme.keywords
        assert len({texts[i] for i in theme.representatives}) == len(theme.representatives)


def test_params_round_trip_and_ignore_unknown_keys():
    params = ThemeParams(min_topic_size=7, seed=3, word_encoder="none")
    assert ThemeParams.from_dict(params.to_dict()) == params
    assert ThemeParams.from_dict({**params.to_dict(), "from_a_newer_version": 1}) == params


def test_params_refuse_shares_outside_zero_to_one_and_tiny_topics():
    with pytest.raises(ValueError, match="max_theme_share"):
        ThemeParams(max_theme_share=1.5)
    with pytest.raises(ValueError, match="min_theme_share"):
        ThemeParams(min_theme_share=-0.1)
    with pytest.raises(ValueError, match="min_topic_size"):
        ThemeParams(min_topic_size=1)
    with pytest.raises(ValueError, match="umap_fit_rows"):
        ThemeParams(umap_fit_rows=-5)


def test_min_cluster_size_shrinks_for_small_months_and_grows_for_big_ones():
    params = ThemeParams(min_topic_size=10, min_theme_share=0.004)
    sizes = [params.min_cluster_size(n) for n in (10, 80, 201, 250, 2_500, 10_000, 50_000)]
    assert sizes == [3, 3, 8, 10, 10, 40, 200]


def test_max_cluster_size_is_a_share_of_the_month_and_zero_turns_it_off():
    assert [ThemeParams().max_cluster_size(n) for n in (10, 201, 50_000)] == [5, 100, 25_000]
    assert ThemeParams(max_theme_share=0.0).max_cluster_size(201) == 0


def test_keyword_terms_drop_noise_and_never_bridge_stop_words_or_punctuation():
    terms = keyword_terms("@shop Hello team, my order #48213 got cancelled! See https://t.co/x8Kq2 in 2024 don't")
    assert terms == ["hello", "team", "hello team", "order", "got", "cancelled", "got cancelled"]
    assert keyword_terms("flight DL1345 delayed again, 2nd time") == ["flight", "delayed", "time"]
    assert keyword_terms("RT @fan: new album &amp; tour via @label") == ["new", "album", "new album", "tour"]


def test_label_keywords_must_be_in_several_of_the_themes_messages():
    texts = [f"my parcel was delivered late again, day {i}" for i in range(30)] + ["the elevator was broken"]
    vectorizer = CountVectorizer(analyzer=keyword_terms)
    terms = vectorizer.fit_transform(texts)
    keywords = ["elevator", "delivered", "parcel", "late"]
    # 5% of 31 messages is 2: "elevator" is in one.
    assert supported_keywords(keywords, terms, vectorizer.vocabulary_) == ["delivered", "parcel", "late"]
    assert supported_keywords(["elevator", "unknown"], terms, vectorizer.vocabulary_) == ["elevator", "unknown"]


def test_themes_that_would_share_a_label_each_get_another_phrase():
    keywords = [["airline", "gate", "boarding"], ["airline", "miles", "points"], ["refund", "voucher"]]
    supported = [["airline"], ["airline"], ["refund", "voucher"]]
    assert distinct_labels(keywords, supported, 3) == [
        LABEL_SEPARATOR.join(["airline", "gate"]),
        LABEL_SEPARATOR.join(["airline", "miles"]),
        LABEL_SEPARATOR.join(["refund", "voucher"]),
    ]
    # Nothing left to tell them apart: the labels stay as they are.
    assert distinct_labels([["airline"], ["airline"]], [["airline"], ["airline"]], 3) == ["airline", "airline"]


def test_label_prefers_phrases_and_never_repeats_a_stem():
    keywords = ["cancelled", "order", "refund", "cancelled order", "refunds", "orders", "voucher"]
    assert theme_label(keywords, 3) == LABEL_SEPARATOR.join(["cancelled order", "refund", "voucher"])
    assert theme_label(["dark", "dark mode", "mode", "night", "dark theme", "theme"], 3) == "dark mode · night · theme"
    assert theme_label(["", "refund"], 3) == "refund"


def test_diversity_and_npmi_on_hand_counted_examples():
    assert topic_diversity([["a", "b"], ["b", "c"]]) == 0.75
    assert topic_diversity([]) == 0.0
    # "a" and "b" always together, "c" never with either.
    docs = sparse.csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [0, 0, 1], [0, 0, 1]]))
    vocabulary = {"a": 0, "b": 1, "c": 2}
    assert npmi_coherence([["a", "b"]], docs, vocabulary) == pytest.approx(1.0)
    assert npmi_coherence([["a", "c"]], docs, vocabulary) == -1.0
    assert npmi_coherence([["a", "b", "c"]], docs, vocabulary) == pytest.approx(-1 / 3)
    assert npmi_coherence([["a", "unknown"]], docs, vocabulary) == 0.0


def test_finds_the_three_planted_themes(fitted, month):
    texts, subjects, _ = month
    assert len(fitted.themes_) == 3
    assert_planted_themes(fitted, texts, subjects)


def test_labels_are_short_readable_key_phrases(fitted):
    for theme in fitted.themes_:
        phrases = theme.label.split(LABEL_SEPARATOR)
        words = [w for phrase in phrases for w in phrase.split()]
        assert 1 <= len(phrases) <= FAST.label_words
        assert all(phrase in theme.keywords for phrase in phrases)
        assert len(set(words)) == len(words)
        assert not set(words) & ENGLISH_STOP_WORDS


def test_sizes_labels_centroids_and_representatives_agree(fitted, month):
    texts, _, embeddings = month
    assert fitted.labels_.shape == (len(texts),)
    outliers = int((fitted.labels_ == -1).sum())
    assert sum(t.size for t in fitted.themes_) + outliers == len(texts)
    assert [t.index for t in fitted.themes_] == list(range(len(fitted.themes_)))
    assert [t.size for t in fitted.themes_] == sorted((t.size for t in fitted.themes_), reverse=True)
    for theme in fitted.themes_:
        members = np.flatnonzero(fitted.labels_ == theme.index)
        assert theme.size == len(members)
        assert theme.centroid.dtype == np.float32 and theme.centroid.shape == (embeddings.shape[1],)
        assert np.linalg.norm(theme.centroid) == pytest.approx(1.0, abs=1e-5)
        assert 1 <= len(theme.representatives) <= FAST.representatives
        assert set(theme.representatives) <= set(members.tolist())
        assert len(theme.keywords) <= FAST.top_n_words


def test_metrics_are_in_range_and_stages_are_timed(fitted):
    assert set(fitted.timings_) == {"umap", "hdbscan", "representation"}
    assert all(seconds >= 0 for seconds in fitted.timings_.values())
    m = fitted.metrics_
    assert m["n_themes"] == len(fitted.themes_)
    assert 0.0 <= fitted.outlier_share_ <= fitted.outlier_share_before_ <= 1.0
    assert m["outlier_share"] == fitted.outlier_share_
    assert m["outlier_share_before"] == fitted.outlier_share_before_
    assert 0.0 < m["diversity"] <= 1.0
    assert -1.0 <= m["npmi"] <= 1.0


def test_fitting_twice_gives_identical_themes(fitted, month):
    texts, _, embeddings = month
    again = ThemeModel(FAST).fit(texts, embeddings)
    np.testing.assert_array_equal(again.labels_, fitted.labels_)
    assert again.themes_ == fitted.themes_
    for a, b in zip(again.themes_, fitted.themes_, strict=True):
        np.testing.assert_array_equal(a.centroid, b.centroid)


def test_outlier_threshold_decides_which_outliers_join_a_theme(month):
    texts, subjects, embeddings = month
    # One subject alone: HDBSCAN splits it by wording and leaves some messages out.
    rows = [i for i, s in enumerate(subjects) if s == "refund"]
    one_subject = [texts[i] for i in rows], embeddings[rows]
    strict = ThemeModel(dataclasses.replace(FAST, outlier_threshold=1.0)).fit(*one_subject)
    lenient = ThemeModel(FAST).fit(*one_subject)
    assert strict.outlier_share_before_ > 0
    assert strict.outlier_share_ == strict.outlier_share_before_
    assert lenient.outlier_share_before_ == strict.outlier_share_before_
    assert lenient.outlier_share_ < lenient.outlier_share_before_
    assert lenient.timings_["outliers"] >= 0
    assert sum(t.size for t in lenient.themes_) == len(rows) - int((lenient.labels_ == -1).sum())


def test_too_few_distinct_texts_or_mismatched_embeddings_raise(month):
    texts, _, embeddings = month
    with pytest.raises(ValueError, match="at least 10 distinct texts"):
        ThemeModel(FAST).fit(texts[:9], embeddings[:9])
    with pytest.raises(ValueError, match="at least 10 distinct texts"):
        ThemeModel(FAST).fit([texts[0]] * 40, np.repeat(embeddings[:1], 40, axis=0))
    with pytest.raises(ValueError, match="one row per text"):
        ThemeModel(FAST).fit(texts[:20], embeddings[:19])
    with pytest.raises(ValueError, match="no keywords"):
        ThemeModel(FAST).fit([f"{i} @someone" for i in range(12)], embeddings[:12])


def test_month_without_cluster_structure_has_no_themes(month):
    texts, _, _ = month
    rng = np.random.default_rng(0)
    near_duplicates = (rng.normal(size=32) + rng.normal(scale=0.01, size=(40, 32))).astype(np.float32)
    noise = rng.normal(size=(10, 32)).astype(np.float32)
    for rows, vectors in ((texts[:40], near_duplicates), (texts[:10], noise)):
        model = ThemeModel(FAST).fit(rows, vectors)
        assert model.themes_ == []
        assert (model.labels_ == -1).all()
        assert model.outlier_share_ == model.outlier_share_before_ == 1.0
        assert model.metrics_ == {
            "n_themes": 0,
            "outlier_share": 1.0,
            "outlier_share_before": 1.0,
            "diversity": 0.0,
            "npmi": 0.0,
        }


def test_keybert_and_mmr_keywords_come_from_the_word_encoder(month, fitted):
    texts, subjects, embeddings = month
    # Hashing vectors stand in for MiniLM here: this checks the plumbing, the slow test the quality.
    model = ThemeModel(ThemeParams(word_encoder="hashing.v1")).fit(texts, embeddings)
    np.testing.assert_array_equal(model.labels_, fitted.labels_)
    assert [t.keywords for t in model.themes_] != [t.keywords for t in fitted.themes_]
    assert all(len(t.keywords) == FAST.top_n_words for t in model.themes_)
    assert_planted_themes(model, texts, subjects)


@pytest.mark.slow
@pytest.mark.integration
def test_minilm_embeddings_and_keywords_find_the_planted_themes():
    texts, subjects = planted_messages()
    embeddings = load_encoder("minilm-l6.v1").encode(texts)
    model = ThemeModel(ThemeParams(word_encoder="minilm-l6.v1")).fit(texts, embeddings)
    assert len(model.themes_) >= 3
    assert_planted_themes(model, texts, subjects)
    assert -1.0 <= model.metrics_["npmi"] <= 1.0


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.skipif("gold_dev" not in available(), reason="the public corpora are not in the corpora directory")
@pytest.mark.parametrize("with_spam", [True, False])
def test_a_small_real_month_has_several_readable_themes(with_spam):
    items = load_corpus("gold_dev", "dev").items
    texts = [item.message.text for item in items if with_spam or item.labels.intent != "spam"]
    embeddings = load_encoder("minilm-l6.v1").encode(texts)
    model = ThemeModel().fit(texts, embeddings)
    assert len(texts) == (201 if with_spam else 188)
    # Without the size cap, 159 of the 201 messages formed one theme beside the spam comments: 2 themes.
    assert model.max_cluster_size_ == len(texts) // 2
    assert len(model.themes_) >= 3
    assert all(t.size <= len(texts) // 2 for t in model.themes_)
    for theme in model.themes_:
        words = [w for phrase in theme.label.split(LABEL_SEPARATOR) for w in phrase.split()]
        assert words and theme.representatives
        assert not set(words) & ENGLISH_STOP_WORDS and not any(c.isdigit() for w in words for c in w)

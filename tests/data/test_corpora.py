"""Public-corpus adapters, tested on tiny invented corpora written in each source's file format."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from data.corpora import BITEXT_INTENTS, CORPORA, MAPPINGS, available, load_corpus, mapped_labels
from data.loaders import LoadResult
from data.schema import MAX_TEXT_CHARS, LabelledMessage
from data.settings import get_settings
from data.taxonomy import default_taxonomy

YOUTUBE_HEADER = "COMMENT_ID,AUTHOR,DATE,CONTENT,CLASS\n"
FAKE_FILES: dict[str, str] = {
    "labelled_train.jsonl": (
        '{"id": "t1", "source": "youtube", "text": "check my channel", "intent": "spam",'
        ' "urgency": "low", "sentiment": "positive"}\n'
        '{"id": "t2", "source": "airline", "text": "@air where is my bag", "intent": "support_request",'
        ' "urgency": "high", "sentiment": "negative"}\n'
        '{"id": "t3", "text": "nice", "intent": "praise", "urgency": "low", "sentiment": "positive"}\n'
        "{not json\n"
        '{"id": "t5", "text": "  ", "intent": "other", "urgency": "low", "sentiment": "neutral"}\n'
    ),
    "gold_dev.jsonl": (
        '{"id": "g1", "text": "how much is the pro plan?", "intent": "sales_question",'
        ' "urgency": "normal", "sentiment": "neutral"}\n'
    ),
    "semeval2017_task4A_sentiment/train_2013_2016/twitter-2013train-A.tsv": (
        "101\tpositive\tGreat gig tonight\\u002c loved it\n"
        '102\tnegative\t"Rain again, \\""""great\\"""" weekend for the whole town"\n'
    ),
    "semeval2017_task4A_sentiment/train_2013_2016/twitter-2016test-A.tsv": (
        "101\tnegative\tGreat gig tonight, loved it\t\n103\tneutral\tBus leaves at nine\t\njust-one-field\n"
    ),
    "semeval2017_task4A_sentiment/test_2017/SemEval2017-task4-test.subtask-A.english.txt": (
        "201\tneutral\tThe shop opens at ten\n"
    ),
    "tweeteval/sentiment/mapping.txt": "0\tnegative\n1\tneutral\n2\tpositive\n",
    "tweeteval/sentiment/val_text.txt": "@user awful service \n@user fine I guess \n",
    "tweeteval/sentiment/val_labels.txt": "0\n1\n",
    "tweeteval/sentiment/test_text.txt": "@user love it \n",
    "tweeteval/sentiment/test_labels.txt": "2\n",
    "tweeteval/offensive/mapping.txt": "0\tnot-offensive\n1\toffensive\n",
    "tweeteval/offensive/train_text.txt": "@user you absolute clown \n@user see you at the game \n \n",
    "tweeteval/offensive/train_labels.txt": "1\n0\n0\n",
    "tweeteval/offensive/val_text.txt": "@user ok \n",
    "tweeteval/offensive/val_labels.txt": "0\n",
    "tweeteval/offensive/test_text.txt": "@user no \n",
    "tweeteval/offensive/test_labels.txt": "0\n",
    "tweeteval/hate/mapping.txt": "0\tnot-hate\n1\thate",
    "tweeteval/hate/train_text.txt": "go back where you came from \nlovely weather \n",
    "tweeteval/hate/train_labels.txt": "1\n0\n",
    "tweeteval/hate/val_text.txt": "hello \n",
    "tweeteval/hate/val_labels.txt": "0\n",
    "tweeteval/hate/test_text.txt": "hello again \n",
    "tweeteval/hate/test_labels.txt": "0\n",
    "davidson_hate_offensive/labeled_data.csv": (
        ",count,hate_speech,offensive_language,neither,class,tweet\n"
        "0,3,3,0,0,0,a slur aimed at a group\n"
        "1,3,0,3,0,1,you are a stupid clown\n"
        '2,3,0,0,3,2,"RT @friend: lunch, anyone?"\n'
        "3,3,0,0,3,2,\n"
    ),
    "youtube_spam_collection/Youtube01-Psy.csv": (
        f"{YOUTUBE_HEADER}"
        'c1,Ann,2013-11-07T06:20:48,"subscribe to my channel, thanks\ufeff",1\n'
        "c2,Bob,2013-11-08T10:00:00,this song never gets old\ufeff,0\n"
        "c2,Bob,2013-11-08T10:00:00,this song never gets old\ufeff,0\n"
    ),
    "youtube_spam_collection/Youtube02-KatyPerry.csv": f"{YOUTUBE_HEADER}k1,Cy,,great video,0\n",
    "youtube_spam_collection/Youtube03-LMFAO.csv": f"{YOUTUBE_HEADER}l1,Di,,free gift cards,1\n",
    "youtube_spam_collection/Youtube04-Eminem.csv": f"{YOUTUBE_HEADER}e1,Ed,,so good,0\n",
    "youtube_spam_collection/Youtube05-Shakira.csv": (
        f"{YOUTUBE_HEADER}s1,Fi,,{'x' * (MAX_TEXT_CHARS + 1)},0\ns2,Gu,,nice,0\n"
    ),
    "sms_spam_collection/SMSSpamCollection.tsv": (
        "Label\tSMS\nham\tSee you at six\nspam\tYou WON a prize, call now\nno tab on this line\n"
    ),
    "semeval2019_task9_suggestion_mining/V1.4_Training.csv": (
        '1_1,"""Please add a dark theme to the dashboard""",1\n'
        '1_2,"""The dashboard loads slowly""",0\n'
        "1_3,only two fields\n"
    ),
    "semeval2019_task9_suggestion_mining/SubtaskA_EvaluationData_labeled.csv": (
        '9001,"It would help to export reports as CSV.",1\n'
    ),
    "twitter_us_airline_sentiment/Tweets.csv": (
        "tweet_id,airline_sentiment,airline_sentiment_confidence,negativereason,negativereason_confidence,"
        "airline,airline_sentiment_gold,name,negativereason_gold,retweet_count,text,tweet_coord,"
        "tweet_created,tweet_location,user_timezone\n"
        "5.70306E+17,negative,1,Late Flight,1,United,,pat,,0,@united late again,,24-02-2015 11:35,,\n"
        "5.70306E+17,positive,1,,,Delta,,sam,,0,@Delta smooth flight thanks,,24-02-2015 11:36,,\n"
    ),
    "complaints_social_media/complaints-data.csv": (
        "11,@shop my parcel never arrived,1,retail\n12,what a sunny day,0,random_tweet\n"
    ),
    "asapp_twitter_airline_intents/airlines_raw.csv": (
        "first_tweet_id,tag,first_utterance,context\n"
        '5,UNK,"<cust__  __company__  my flight is delayed, any news? __cust>",<rep__ sorry __rep>\n'
        '5,UNK,"<cust__  __company__  my flight is delayed, any news? __cust>",<rep__ sorry __rep>\n'
        '6,DELAY,"<cust__ Stuck at the gate,  __company__ ! __cust>",<rep__ checking __rep>\n'
        ",UNK,,\n"
    ),
    "asapp_twitter_airline_intents/airlines_raw_labeled_only.csv": (
        "first_tweet_id,tag,first_utterance,context\n"
        '6,DELAY,"<cust__ Stuck at the gate,  __company__ ! __cust>",<rep__ checking __rep>\n'
    ),
    "bitext_customer_support/Bitext_Sample_Customer_Support_Training_Dataset.csv": (
        "context,role,instruction,intent,entity_type,entity_value,start_offset,end_offset,category,tags,response\n"
        "customer support,virtual assistant,which payment options do you accept,check_payment_methods,,,,,"
        "PAYMENT,B,We accept cards.\n"
        "customer support,virtual assistant,I want my money back,get_refund,,,,,REFUND,B,Sure.\n"
        "customer support,virtual assistant,how do I leave a review,review,,,,,FEEDBACK,B,Here.\n"
        "customer support,virtual assistant,unsubscribe me from the newsletter,newsletter_subscription,"
        ",,,,NEWSLETTER,B,Done.\n"
        "customer support,virtual assistant,do you ship to Chile,delivery_options,,,,,DELIVERY,B,Yes.\n"
    ),
}
TRIAL_FILE = "semeval2019_task9_suggestion_mining/SubtaskA_Trial_Test_Labeled.csv"
TRIAL_TEXT = "id,sentence,label\n7_1,Add a café mode to the store app,1\n7_2,I tried it yesterday,0\n"

ALL_SPLITS = [(name, split) for name, corpus in CORPORA.items() for split in corpus.splits]


def write_fake_corpora(root: Path) -> Path:
    """Write one small file per source format under root, as the real corpora directory lays them out."""
    for relative, text in FAKE_FILES.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (root / TRIAL_FILE).write_bytes(TRIAL_TEXT.encode("latin-1"))
    return root


@pytest.fixture
def corpora(tmp_path: Path) -> Path:
    return write_fake_corpora(tmp_path / "corpora")


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def by_text(result: LoadResult) -> dict[str, LabelledMessage]:
    return {item.message.text: item for item in result.items}


def intents(result: LoadResult) -> dict[str, str | None]:
    return {item.message.text: item.labels.intent for item in result.items}


def test_every_mapped_label_is_a_taxonomy_label_on_a_declared_axis() -> None:
    taxonomy = default_taxonomy()
    for corpus, mapping in MAPPINGS.items():
        for labels in mapping.values():
            for axis, label in labels.items():
                assert axis in CORPORA[corpus].axes
                assert taxonomy.validate(axis, label) == label


def test_bitext_maps_every_intent_and_keeps_pre_purchase_questions_as_sales() -> None:
    assert len(BITEXT_INTENTS) == 27
    assert mapped_labels("bitext", "check_payment_methods") == {"intent": "sales_question"}
    assert mapped_labels("bitext", "delivery_options") == {"intent": "sales_question"}
    assert mapped_labels("bitext", "place_order") == {"intent": "sales_question"}
    assert mapped_labels("bitext", "track_order") == {"intent": "support_request"}
    assert mapped_labels("bitext", "review") == {"intent": "support_request"}
    assert mapped_labels("bitext", "newsletter_subscription") == {}
    with pytest.raises(KeyError, match="unknown source label 'sell_kidney'"):
        mapped_labels("bitext", "sell_kidney")


def test_youtube_spam_is_spam_and_ham_is_unlabelled(corpora: Path) -> None:
    result = load_corpus("youtube_spam", "psy", corpora)
    spam, ham = result.items
    assert (spam.labels.intent, spam.message.metadata["source_label"]) == ("spam", "spam")
    assert (ham.labels.intent, ham.message.metadata["source_label"]) == (None, "ham")
    assert spam.message.text == "subscribe to my channel, thanks"
    assert spam.message.id == "youtube_spam-c1"
    assert spam.message.channel == "youtube"
    assert spam.message.metadata["video"] == "psy"
    assert spam.message.author == "Ann"
    assert spam.message.created_at.year == 2013
    assert spam.source == "youtube_spam"


def test_youtube_all_reads_every_video(corpora: Path) -> None:
    result = load_corpus("youtube_spam", "all", corpora)
    assert {item.message.metadata["video"] for item in result.items} == {
        "psy",
        "katyperry",
        "lmfao",
        "eminem",
        "shakira",
    }
    assert result.read == 8


def test_davidson_hate_and_offensive_are_moderation_issues(corpora: Path) -> None:
    result = load_corpus("davidson", "train", corpora)
    labels = {item.message.metadata["source_label"]: item.labels.intent for item in result.items}
    assert labels == {
        "hate_speech": "moderation_issue",
        "offensive_language": "moderation_issue",
        "neither": None,
    }
    assert by_text(result)["RT @friend: lunch, anyone?"].message.id == "davidson-2"


def test_suggestions_are_feedback_and_quote_wrapping_is_undone(corpora: Path) -> None:
    train = load_corpus("suggestion_mining", "train", corpora)
    assert intents(train) == {
        "Please add a dark theme to the dashboard": "feedback",
        "The dashboard loads slowly": None,
    }
    assert train.items[0].message.channel == "forum"
    assert train.items[0].message.external_id == "1_1"
    trial = load_corpus("suggestion_mining", "trial", corpora)
    assert intents(trial) == {"Add a café mode to the store app": "feedback", "I tried it yesterday": None}
    assert intents(load_corpus("suggestion_mining", "test", corpora)) == {
        "It would help to export reports as CSV.": "feedback"
    }


def test_semeval_label_is_the_sentiment_and_escapes_are_undone(corpora: Path) -> None:
    test = load_corpus("semeval2017", "test", corpora)
    [item] = test.items
    assert (item.labels.sentiment, item.labels.intent, item.message.id) == (
        "neutral",
        None,
        "semeval2017-201",
    )
    train = by_text(load_corpus("semeval2017", "train", corpora))
    assert train["Great gig tonight, loved it"].labels.sentiment == "positive"
    assert train['Rain again, "great" weekend for the whole town'].labels.sentiment == "negative"


def test_semeval_train_keeps_the_first_row_of_each_tweet_id(corpora: Path) -> None:
    result = load_corpus("semeval2017", "train", corpora)
    assert [item.message.id for item in result.items] == [
        "semeval2017-101",
        "semeval2017-102",
        "semeval2017-103",
    ]
    first = result.items[0]
    assert first.labels.sentiment == "positive"
    assert first.message.metadata["subset"] == "twitter-2013train"
    reasons = [row.reason for row in result.rejected]
    assert any("duplicate id '101'" in reason and "twitter-2013train-A.tsv:1" in reason for reason in reasons)
    assert any("separated by tabs" in reason for reason in reasons)
    assert result.read == 5


def test_tweeteval_offensive_is_a_moderation_issue(corpora: Path) -> None:
    result = load_corpus("tweeteval_offensive", "train", corpora)
    assert intents(result) == {
        "@user you absolute clown": "moderation_issue",
        "@user see you at the game": None,
    }
    assert [item.message.metadata["source_label"] for item in result.items] == ["offensive", "not-offensive"]
    assert [(row.row, row.reason) for row in result.rejected] == [(3, "empty text")]


def test_tweeteval_sentiment_codes_are_named_by_mapping_file(corpora: Path) -> None:
    result = load_corpus("tweeteval_sentiment", "val", corpora)
    assert [item.labels.sentiment for item in result.items] == ["negative", "neutral"]
    assert intents(load_corpus("tweeteval_hate", "train", corpora)) == {
        "go back where you came from": "moderation_issue",
        "lovely weather": None,
    }


def test_sms_spam_skips_the_header(corpora: Path) -> None:
    result = load_corpus("sms_spam", "train", corpora)
    assert intents(result) == {"See you at six": None, "You WON a prize, call now": "spam"}
    assert result.items[0].message.channel == "other"
    [rejected] = result.rejected
    assert (rejected.row, rejected.reason) == (4, "expected label and text separated by a tab")


def test_labelled_train_validates_all_three_axes(corpora: Path) -> None:
    result = load_corpus("labelled_train", "train", corpora)
    spam, support = result.items
    assert spam.labels.model_dump() == {"intent": "spam", "urgency": "low", "sentiment": "positive"}
    assert (spam.message.id, spam.message.channel, spam.message.metadata) == (
        "labelled_train-t1",
        "youtube",
        {"split": "train", "origin": "youtube"},
    )
    assert support.message.channel == "twitter"
    reasons = {row.row: row.reason for row in result.rejected}
    assert "unknown intent label 'praise'" in reasons[3]
    assert reasons[4].startswith("invalid JSON")
    assert reasons[5] == "empty text"
    gold = load_corpus("gold_dev", "dev", corpora)
    assert gold.items[0].message.metadata == {"split": "dev"}


def test_unlabelled_corpora_keep_their_source_labels(corpora: Path) -> None:
    complaint = load_corpus("complaints", "train", corpora).items[0]
    assert complaint.labels.is_empty()
    assert complaint.message.metadata == {
        "source_label": "complaint",
        "split": "train",
        "is_complaint": True,
        "domain": "retail",
    }
    asapp = load_corpus("asapp_airline", "all", corpora)
    assert [item.message.text for item in asapp.items] == [
        "@airline my flight is delayed, any news?",
        "Stuck at the gate, @airline !",
    ]
    assert [row.reason for row in asapp.rejected] == [
        "duplicate id '5', first kept at airlines_raw.csv:2",
        "empty text",
    ]
    assert load_corpus("asapp_airline", "labelled", corpora).items[0].message.metadata["tag"] == "DELAY"


def test_bitext_and_airline_sentiment(corpora: Path) -> None:
    bitext = load_corpus("bitext", "train", corpora)
    assert intents(bitext) == {
        "which payment options do you accept": "sales_question",
        "I want my money back": "support_request",
        "how do I leave a review": "support_request",
        "unsubscribe me from the newsletter": None,
        "do you ship to Chile": "sales_question",
    }
    assert "SYNTHETIC" in CORPORA["bitext"].description
    airline = load_corpus("airline_sentiment", "train", corpora)
    assert [item.labels.sentiment for item in airline.items] == ["negative", "positive"]
    assert [item.message.id for item in airline.items] == [
        "airline_sentiment-train-2",
        "airline_sentiment-train-3",
    ]
    assert airline.items[0].message.metadata["negativereason"] == "Late Flight"


def test_rejected_rows_name_file_row_and_reason(corpora: Path) -> None:
    result = load_corpus("youtube_spam", "shakira", corpora)
    [rejected] = result.rejected
    assert rejected.file.endswith("Youtube05-Shakira.csv")
    assert rejected.row == 2
    assert f"over the {MAX_TEXT_CHARS} limit" in rejected.reason
    davidson = load_corpus("davidson", "train", corpora)
    assert [(row.row, row.reason) for row in davidson.rejected] == [(5, "empty text")]
    suggestions = load_corpus("suggestion_mining", "train", corpora)
    assert [(row.row, row.reason) for row in suggestions.rejected] == [(3, "expected 3 fields, got 2")]


@pytest.mark.parametrize(("name", "split"), ALL_SPLITS)
def test_every_split_accounts_for_every_row(corpora: Path, name: str, split: str) -> None:
    result = load_corpus(name, split, corpora)
    assert result.read == result.kept + len(result.rejected)
    assert result.kept > 0
    ids = [item.message.id for item in result.items]
    assert len(ids) == len(set(ids))
    assert all(item.source == name and item.message.id.startswith(f"{name}-") for item in result.items)
    assert all(item.message.metadata["split"] == split for item in result.items)


def test_missing_files_name_the_directory_and_the_setting(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as raised:
        load_corpus("davidson", "train", tmp_path)
    message = str(raised.value)
    assert str(tmp_path) in message
    assert "TIDINGS_CORPORA_DIR" in message
    assert "davidson_hate_offensive/labeled_data.csv" in message


def test_unknown_corpus_or_split_names_the_valid_ones(corpora: Path) -> None:
    with pytest.raises(KeyError, match="semeval2017"):
        load_corpus("semeval2018", "train", corpora)
    with pytest.raises(KeyError, match="valid splits: val, test"):
        load_corpus("tweeteval_sentiment", "train", corpora)


def test_available_lists_corpora_whose_files_exist(corpora: Path, tmp_path: Path) -> None:
    assert available(corpora) == list(CORPORA)
    assert available(tmp_path / "nowhere") == []
    (corpora / "bitext_customer_support" / "Bitext_Sample_Customer_Support_Training_Dataset.csv").unlink()
    (corpora / "youtube_spam_collection" / "Youtube03-LMFAO.csv").unlink()
    assert "bitext" not in available(corpora)
    assert "youtube_spam" not in available(corpora)
    assert "davidson" in available(corpora)


def test_corpora_dir_defaults_to_the_setting(
    corpora: Path, monkeypatch: pytest.MonkeyPatch, fresh_settings: None
) -> None:
    monkeypatch.setenv("TIDINGS_CORPORA_DIR", str(corpora))
    assert load_corpus("sms_spam").kept == 2
    assert available() == list(CORPORA)


@pytest.mark.integration
def test_real_corpora_load_every_split() -> None:
    corpora_dir = get_settings().corpora_dir
    if not corpora_dir.is_dir():
        pytest.skip(f"no public corpora at {corpora_dir} (set TIDINGS_CORPORA_DIR)")
    for name, split in ALL_SPLITS:
        result = load_corpus(name, split, corpora_dir)
        assert result.read == result.kept + len(result.rejected), (name, split)
        assert result.kept > 0, (name, split)
        if name == "labelled_train":
            assert result.kept == 1497

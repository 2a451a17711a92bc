"""Redaction finds e-mails, phones, cards and street addresses, and leaves look-alike numbers alone."""

from __future__ import annotations

import time

import pytest

from data.redaction import ADDRESS, CARD, EMAIL, PHONE, find_personal_data, luhn_valid, redact

# (text, what the found piece is, its placeholder)
TRUE_POSITIVES = [
    ("write to me at jane.doe@example.com please", "jane.doe@example.com", EMAIL),
    ("mail JOHN_smith+orders@mail.co.uk asap", "JOHN_smith+orders@mail.co.uk", EMAIL),
    ("contact: a.b-c@sub-domain.example.org.", "a.b-c@sub-domain.example.org", EMAIL),
    ("(ana@x.io) said hi", "ana@x.io", EMAIL),
    ("my card 4111 1111 1111 1111 was charged twice", "4111 1111 1111 1111", CARD),
    ("card no 4111-1111-1111-1111", "4111-1111-1111-1111", CARD),
    ("used 5555555555554444 yesterday", "5555555555554444", CARD),
    ("amex 3782 822463 10005 declined", "3782 822463 10005", CARD),
    ("visa 4012888888881881.", "4012888888881881", CARD),
    ("call me on +44 20 7946 0958 today", "+44 20 7946 0958", PHONE),
    ("whatsapp +4915112345678", "+4915112345678", PHONE),
    ("reach me at +1 (415) 555-0132", "+1 (415) 555-0132", PHONE),
    ("my number is (415) 555-0132", "(415) 555-0132", PHONE),
    ("phone 415-555-0132 after 5", "415-555-0132", PHONE),
    ("ring 415.555.0132", "415.555.0132", PHONE),
    ("toll free 1-800-555-0199", "1-800-555-0199", PHONE),
    ("try 415 555 0132", "415 555 0132", PHONE),
    ("office 020 7946 0958", "020 7946 0958", PHONE),
    ("mobile 07700 900123 anytime", "07700 900123", PHONE),
    ("appelez le 06 12 34 56 78", "06 12 34 56 78", PHONE),
    ("text me 4155550132", "4155550132", PHONE),
    ("call 07700900123 now", "07700900123", PHONE),
    ("tel: +33 1 42 68 53 00", "+33 1 42 68 53 00", PHONE),
    ("ship it to 221B Baker Street please", "221B Baker Street", ADDRESS),
    ("I live at 1600 Pennsylvania Ave NW, Apt 4 now", "1600 Pennsylvania Ave NW, Apt 4", ADDRESS),
    ("deliver to 42 main st", "42 main st", ADDRESS),
    ("moved to 7 Old Mill Road last year", "7 Old Mill Road", ADDRESS),
    ("send it to 123 Main St, Springfield, IL 62704 thanks", "123 Main St, Springfield, IL 62704", ADDRESS),
    ("at 55 Elm Drive #12 since May", "55 Elm Drive #12", ADDRESS),
    ("P.O. Box 4512 is my mailbox", "P.O. Box 4512", ADDRESS),
    ("PO Box 77", "PO Box 77", ADDRESS),
    ("bitte an Hauptstraße 5 liefern", "Hauptstraße 5", ADDRESS),
    ("livrez au 12 rue de la Paix", "12 rue de la Paix", ADDRESS),
]

TRICKY_NEGATIVES = [
    "my order #123456789 never arrived",
    "order 1234567890123 is late",  # 13 digits, not Luhn-valid
    "ticket 4111111111111112 closed",  # card-shaped, fails Luhn
    "tracking number 1Z999AA10123456784",
    "invoice INV-2024-000123",
    "it happened on 2024-05-01 at 10:30",
    "due 12/05/2024 or 05.12.2024",
    "from 10:00-12:00 on 3/4",
    "upgraded to v2.3.1 and 10.4.12",
    "version 1.2.3.4567 broke it",
    "server 192.168.100.200 is down",
    "it costs $1,299.99 or €1.299,00",
    "we sold 1,234,567 units",
    "price 415.55 and 555.01",
    "follow @acme and @jane_doe",
    "email support at acme dot com",
    "I waited 20 minutes on the road",
    "the 3 best ways to win",
    "give me 5 more days",
    "it is 2 way better now",
    "room 101 is cold",
    "year 2023 was great, 2024 too",
    "postcode SW1A 1AA",
    "ISBN 978-3-16-148410-0",
    "phone was broken",
    "flight BA0123 at gate 22",
    "score 3-1 tonight",
    "call me later",
    "1 2 3 4 5 6 7 8",
    "bag tag 0488 219 33, landed an hour ago",
    "70 is way too narrow on an ultrawide",
    "VAT number GB 293 1182 04",
    "order 2291-55014 and account 5521-0934",
    "order GP.3341-8812-0923 and #2271-88431",
    "macOS 10.14.2 after the 0.12 update, code 0x1",
]


@pytest.mark.parametrize(("text", "piece", "placeholder"), TRUE_POSITIVES)
def test_each_kind_of_personal_data_is_found_whole(text, piece, placeholder):
    findings = find_personal_data(text)
    assert [(text[f.start : f.end], f.placeholder) for f in findings] == [(piece, placeholder)]
    assert redact(text) == text.replace(piece, placeholder)


@pytest.mark.parametrize("text", TRICKY_NEGATIVES)
def test_look_alike_numbers_and_words_are_left_alone(text):
    assert find_personal_data(text) == []
    assert redact(text) == text


def test_several_findings_in_one_message_are_all_replaced():
    text = (
        "Hi, I'm at 10 Downing Street. Email pm@gov.uk or call +44 20 7925 0918; "
        "charge 4111 1111 1111 1111 for order #5512 of 3 items at $19.99."
    )
    assert redact(text) == (
        "Hi, I'm at [ADDRESS]. Email [EMAIL] or call [PHONE]; charge [CARD] for order #5512 of 3 items at $19.99."
    )


def test_redacting_twice_changes_nothing_more():
    once = redact("mail a@b.com, call 415-555-0132, card 5555 5555 5555 4444, 9 Elm Street")
    assert once == "mail [EMAIL], call [PHONE], card [CARD], [ADDRESS]"
    assert redact(once) == once


@pytest.mark.parametrize(
    ("digits", "valid"),
    [("4111111111111111", True), ("4111111111111112", False), ("79927398713", True), ("0", True), ("18", True)],
)
def test_luhn(digits, valid):
    assert luhn_valid(digits) is valid


@pytest.mark.parametrize(
    "text", ["+" + "1" * 4999, "1 " * 2500, "0 " * 2500, "a." * 2500, "12 " + "Abc " * 1240, "4" * 5000]
)
def test_adversarial_messages_of_the_maximum_length_are_handled_quickly(text):
    started = time.perf_counter()
    redact(text)
    assert time.perf_counter() - started < 1.0

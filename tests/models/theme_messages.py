"""A planted month of messages for the theme model: three unrelated subjects, varied wording.

Each message joins a shared greeting, a subject sentence built from three interchangeable parts
and a shared sign-off, so no two messages need be alike while each subject's own words recur.
Greetings and sign-offs carry @handles, links and numbers, which must never become keywords, and a
dozen one-off messages belong to no subject.
"""

from __future__ import annotations

import random

SUBJECT_PARTS: dict[str, list[list[str]]] = {
    "refund": [
        ["I still have not received", "where is", "I am still waiting for", "please send", "what happened to"],
        ["the refund", "my refund", "a refund", "the money back", "the refunded amount"],
        [
            "for my cancelled order",
            "for the order you cancelled",
            "after my order was cancelled",
            "for order 48213 which got cancelled",
            "since the cancelled order",
        ],
    ],
    "login": [
        ["I cannot log in to my account as", "my account login fails as", "login to my account fails as"],
        ["the password reset email", "the reset password link", "the password reset code", "the password reset page"],
        ["never arrives", "has expired", "shows an error", "does nothing", "keeps failing"],
    ],
    "dark_mode": [
        ["please add", "we really need", "any plans for", "would love", "feature request:"],
        ["a dark mode", "a dark theme", "dark mode", "a proper dark mode", "a night theme with dark mode"],
        [
            "for the app",
            "because the white screen hurts at night",
            "for reading at night",
            "on mobile",
            "like 2024 apps",
        ],
    ],
}
GREETINGS = ["", "", "Hi,", "Hello team,", "Hey,", "@support", "@helpdesk hi", "Morning,"]
SIGN_OFFS = ["", "", "Thanks.", "Cheers!", "Any update?", "https://t.co/x8Kq2 thanks", "See 2 screenshots.", "Thx"]
PER_SUBJECT = 80
# One-off messages on nothing in particular: they should end up outliers, not a theme.
STRAYS = [
    "happy friday everyone",
    "lol",
    "who won the match yesterday",
    "the weather in lisbon is lovely today",
    "my cat knocked a plant off the shelf",
    "is anyone going to the jazz concert",
    "great podcast episode about volcanoes",
    "recipe ideas for pumpkin soup?",
    "congrats on the anniversary",
    "traffic on the bridge was terrible",
    "first snow of the winter",
    "reading a novel about pirates",
]


def planted_messages(seed: int = 7) -> tuple[list[str], list[str]]:
    """Texts and their subject names ("stray" for the one-offs), shuffled, the same for the same seed."""
    rng = random.Random(seed)
    rows = []
    for subject, parts in SUBJECT_PARTS.items():
        for _ in range(PER_SUBJECT):
            sentence = " ".join(rng.choice(options) for options in parts)
            words = [rng.choice(GREETINGS), f"{sentence}.", rng.choice(SIGN_OFFS)]
            rows.append((" ".join(w for w in words if w), subject))
    rows += [(text, "stray") for text in STRAYS]
    rng.shuffle(rows)
    return [text for text, _ in rows], [subject for _, subject in rows]

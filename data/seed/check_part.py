"""Validate one seed-corpus part file: python data/seed/check_part.py data/seed/part-01.jsonl"""
import collections
import json
import sys

INTENTS = {"support_request", "sales_question", "feedback", "moderation_issue", "spam",
           "partnership_inquiry", "advocacy", "other"}
URGENCY = {"critical", "high", "normal", "low"}
SENTIMENT = {"negative", "neutral", "positive"}
CHANNELS = {"twitter", "instagram", "facebook", "youtube", "tiktok", "reddit", "forum", "review",
            "email", "chat", "ticket", "other"}

path = sys.argv[1]
ids, texts, errors = set(), set(), []
counts = {k: collections.Counter() for k in ("intent", "urgency", "sentiment", "channel")}
for n, line in enumerate(open(path, encoding="utf-8"), 1):
    if not line.strip():
        continue
    try:
        r = json.loads(line)
    except json.JSONDecodeError as e:
        errors.append(f"line {n}: bad JSON {e}")
        continue
    for key, allowed in (("intent", INTENTS), ("urgency", URGENCY), ("sentiment", SENTIMENT), ("channel", CHANNELS)):
        if r.get(key) not in allowed:
            errors.append(f"line {n}: bad {key} {r.get(key)!r}")
        counts[key][r.get(key)] += 1
    for key in ("id", "text", "space"):
        if not isinstance(r.get(key), str) or not r[key].strip():
            errors.append(f"line {n}: missing {key}")
    if r.get("id") in ids:
        errors.append(f"line {n}: duplicate id {r.get('id')}")
    ids.add(r.get("id"))
    t = " ".join(str(r.get("text", "")).lower().split())
    if t in texts:
        errors.append(f"line {n}: duplicate text")
    texts.add(t)
    words = len(str(r.get("text", "")).split())
    if not 2 <= words <= 90:
        errors.append(f"line {n}: {words} words")
print(f"{len(ids)} rows")
for k, c in counts.items():
    print(k, dict(c.most_common()))
print("\n".join(errors[:50]) or "no errors")
sys.exit(1 if errors else 0)

"""Fake free-text feedback for the demo interactions.

Texts are composed, vectorised with pyarrow, from an opening (by kind of contact), a
body (by topic and sentiment bucket) and an optional signature that carries fake
personal data (a name, a 555 phone number, an example.com e-mail), so the pipeline's
handling of personal data can be exercised. Nothing here is a real person.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .simulate import categorical

FIRST_NAMES = ("Anna", "Ben", "Carla", "David", "Elif", "Farah", "Giulia", "Hugo", "Ines", "Jonas",
               "Kenji", "Lena", "Mateo", "Nora", "Omar", "Paula", "Quinn", "Rosa", "Sven", "Tara")
LAST_NAMES = ("Adams", "Becker", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Hansen", "Ito",
              "Jansen", "Kowalski", "Lopez", "Moreau", "Novak", "Okafor", "Petrov", "Rossi", "Silva",
              "Tanaka", "Weber")

#: Kinds of text-bearing contact.
FIRST_CONTACT, FOLLOW_UP, COMPLAINT, SURVEY = 0, 1, 2, 3
OPENINGS = (
    ("", "Hi, ", "Hello team, ", "Hi support, "),
    ("Following up: ", "Any update? ", "Contacting you again. ", "Still waiting. "),
    ("Complaint: ", "I want to file a complaint. ", "Formal complaint. ", ""),
    ("", "Comment: ", "Feedback: ", ""),
)
#: Bodies by topic (TOPICS order, then "general"), sentiment bucket (negative, neutral,
#: positive), two variants each.
BODIES = (
    (("I was charged twice this month and nobody has fixed it yet.",
      "The invoice is wrong again, we are billed for seats we do not use."),
     ("Can you send me a copy of last month's invoice?",
      "I would like to update the card on file for our account."),
     ("Thanks for sorting out the invoice so quickly.",
      "The new billing page is much clearer, thank you.")),
    (("The export keeps crashing and we lost a day of work.",
      "Same error as last week, the dashboard does not load at all."),
     ("I think I found a bug in the report filters.",
      "The sync shows an error code sometimes, can you check?"),
     ("The fix works, thanks for the quick patch.",
      "The bug is gone after the update, great job.")),
    (("Setup is confusing and the guide does not match the product.",
      "We still cannot get the team onboarded, this is frustrating."),
     ("How do I invite the rest of my team?",
      "Is there a checklist for getting started?"),
     ("The onboarding call was really helpful, thank you.",
      "We got everyone set up in a day, smooth process.")),
    (("Everything is painfully slow since the last release.",
      "Pages take forever to load and my team is complaining."),
     ("Reports seem a bit slower than usual today.",
      "Is there maintenance going on? Things feel slow."),
     ("Much faster now, thanks for the improvement.",
      "Performance has been great this month.")),
    (("I have been locked out of my account for two days.",
      "Nobody answers about the admin change on our account, very disappointing."),
     ("Please update the billing contact on our account.",
      "How do I change the admin of our workspace?"),
     ("The password reset worked, thanks for the help.",
      "Account changes were done quickly, appreciated.")),
    (("We really need bulk edit, otherwise we will look elsewhere.",
      "Still no API for this after months of asking."),
     ("It would be nice to have a dark mode.",
      "Could you add an export to Excel?"),
     ("Love the new automation feature, keep it coming.",
      "The integration you added is exactly what we needed.")),
    (("Honestly the service has gone downhill.",
      "Too many problems lately, we are reconsidering our subscription."),
     ("It does the job.",
      "Fine overall, a few rough edges."),
     ("Great product and friendly support.",
      "Very happy with the service, would recommend.")),
)
GENERAL_TOPIC = len(BODIES) - 1
SIGNATURE_LEADS = ("", " - ", " Call me at ", " My email is ")
SIGNATURE_TAILS = ("", "", ".", ".")
SIGNATURE_P = (0.4, 0.3, 0.15, 0.15)


def contact_details(n: int, first_name: np.ndarray, last_name: np.ndarray,
                    emails: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array]:
    """Per-customer fake name, phone number and e-mail as pyarrow string arrays."""
    names = pa.array([f"{FIRST_NAMES[f]} {LAST_NAMES[l]}" for f, l in zip(first_name, last_name)])
    idx = np.arange(n, dtype=np.int64)
    phones = pa.array([f"+1-555-{a:03d}-{b:04d}" for a, b in zip((idx * 7919) % 900 + 100,
                                                                  (idx * 104_729) % 10_000)])
    return names, phones, emails


def sentiment_bucket(sentiment: np.ndarray) -> np.ndarray:
    """0 negative, 1 neutral, 2 positive."""
    return np.where(sentiment < -0.25, 0, np.where(sentiment > 0.25, 2, 1))


def compose(rng: np.random.Generator, kind: np.ndarray, topic: np.ndarray, sentiment: np.ndarray,
            cust: np.ndarray, details: tuple[pa.Array, pa.Array, pa.Array]) -> pa.Array:
    """Texts for rows of the given kind, topic (-1: general), sentiment and customer."""
    n = len(kind)
    opening_flat = pa.array([text for group in OPENINGS for text in group])
    body_flat = pa.array([text for topic_bodies in BODIES for bucket in topic_bodies for text in bucket])
    opening = opening_flat.take(pa.array(kind.astype(np.int64) * 4 + rng.integers(0, 4, n)))
    topic_idx = np.where(topic < 0, GENERAL_TOPIC, topic).astype(np.int64)
    bucket = np.where(kind == COMPLAINT, 0, sentiment_bucket(sentiment))
    body_idx = (topic_idx * 3 + bucket) * 2 + rng.integers(0, 2, n)
    body = body_flat.take(pa.array(body_idx))
    sig = categorical(rng, SIGNATURE_P, n)
    names, phones, emails = details
    cust_idx = pa.array(cust.astype(np.int64))
    value = pc.choose(pa.array(sig), pa.array([""] * n), names.take(cust_idx), phones.take(cust_idx),
                      emails.take(cust_idx))
    lead = pa.array(SIGNATURE_LEADS).take(pa.array(sig.astype(np.int64)))
    tail = pa.array(SIGNATURE_TAILS).take(pa.array(sig.astype(np.int64)))
    return pc.binary_join_element_wise(opening, body, lead, value, tail, "")

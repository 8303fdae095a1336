"""New workflow ids are random version-4 UUIDs in their usual text form."""

from __future__ import annotations

import uuid

from ruvon.ids import new_workflow_id


def test_new_ids_are_version_4_uuids_in_canonical_text() -> None:
    ids = [new_workflow_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        assert str(parsed) == text  # lower-case hex, dashes at 8-4-4-4-12


def test_every_variant_digit_occurs_and_the_random_digits_vary() -> None:
    ids = [new_workflow_id() for _ in range(4000)]
    assert {text[19] for text in ids} == set("89ab")
    for position in (0, 9, 15, 20, 35):  # one digit of each group (14 is the version)
        assert len({text[position] for text in ids}) == 16
    assert {text[14] for text in ids} == {"4"}

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

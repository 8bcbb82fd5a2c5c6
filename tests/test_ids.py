"""Correlation ids are version 7 GUIDs that sort by creation time."""

from __future__ import annotations

import time
import uuid

from tollhouse.ids import new_correlation_id


def test_is_a_version_7_guid_in_the_usual_form() -> None:
    text = new_correlation_id()

    parsed = uuid.UUID(text)
    assert str(parsed) == text
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122


def test_carries_the_creation_time_in_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    text = new_correlation_id()
    after = time.time_ns() // 1_000_000

    assert before <= uuid.UUID(text).int >> 80 <= after


def test_ids_are_unique_and_sort_by_time() -> None:
    first = [new_correlation_id() for _ in range(1000)]
    time.sleep(0.002)
    later = new_correlation_id()

    assert len(set(first)) == 1000
    assert all(text < later for text in first)

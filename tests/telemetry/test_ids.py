import time
import uuid

from telemetry.models import new_log_ids_hex


def test_bulk_ids_are_distinct_uuid7_of_the_current_millisecond():
    before = time.time_ns() // 1_000_000
    ids = [uuid.UUID(hex=text) for text in new_log_ids_hex(10_000)]
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == 10_000
    assert {u.version for u in ids} == {7}
    assert {u.variant for u in ids} == {uuid.RFC_4122}
    assert all(before <= u.int >> 80 <= after for u in ids)

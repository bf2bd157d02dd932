"""Every changelist runs a fixed number of queries however many rows it shows, and the log
list never counts its table."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from rooms.services import participant_join, room_create, room_deactivate
from telemetry.admin import ConnectionLogAdmin
from tests.riders.factories import RiderFactory
from tests.telemetry.factories import ConnectionLogFactory

ROWS = [3, 30]


def make_rides(count: int) -> None:
    for number in range(count):
        leader = RiderFactory()
        room = room_create(creator=leader, name=f"Ride {number}")
        participant_join(rider=RiderFactory(), code=room.code)
        if number % 3 == 0:
            room_deactivate(room=room, actor=leader)


def make_logs(count: int) -> None:
    rider = RiderFactory()
    room = room_create(creator=rider, name="Logged ride")
    ConnectionLogFactory.create_batch(
        count, user=rider, room=room, metrics={"rtt_ms": 80, "packet_loss_pct": 0.5}
    )


def page_queries(client, exact_queries, url: str, expected: int):
    with exact_queries(expected) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return response, captured


@pytest.mark.parametrize("rows", ROWS)
def test_rooms(staff_client, exact_queries, rows):
    client, _ = staff_client("support")
    make_rides(rows)
    # session, staff member, their permissions (2), count, rooms with live counts and creators
    page_queries(client, exact_queries, reverse("admin:rooms_room_changelist"), 6)


@pytest.mark.parametrize("rows", ROWS)
def test_riders(staff_client, exact_queries, rows):
    client, _ = staff_client("moderator")
    RiderFactory.create_batch(rows)
    page_queries(client, exact_queries, reverse("admin:riders_rider_changelist"), 6)


@pytest.mark.parametrize("rows", ROWS)
def test_participants(staff_client, exact_queries, rows):
    client, _ = staff_client("support")
    make_rides(rows)
    page_queries(client, exact_queries, reverse("admin:rooms_roomparticipant_changelist"), 6)


@pytest.mark.parametrize("rows", ROWS)
def test_audit_trail(staff_client, exact_queries, rows):
    client, _ = staff_client("support")
    make_rides(rows)
    page_queries(client, exact_queries, reverse("admin:riders_auditentry_changelist"), 6)


@pytest.mark.parametrize("rows", [3, 30, 250])
def test_connection_logs_are_listed_without_counting(staff_client, exact_queries, rows):
    client, _ = staff_client("support")
    make_logs(rows)
    url = reverse("admin:telemetry_connectionlog_changelist")
    # session, staff member, permissions (2), the day filter's partitions (the catalog), one
    # page of logs with riders and rides; with several pages that page is fetched once, one
    # row longer than shown.
    expected = 6 if rows > 100 else 7
    response, captured = page_queries(client, exact_queries, url, expected)
    sql = " ".join(query["sql"] for query in captured.captured_queries)
    assert "COUNT(" not in sql.upper()
    assert 'ORDER BY "telemetry_connectionlog"."occurred_at" DESC' in sql
    shown = min(rows, 100)
    assert response.content.count(b'class="field-event_type"') == shown


def test_log_pages_follow_each_other_without_a_total(staff_client, exact_queries):
    client, _ = staff_client("support")
    make_logs(250)
    url = reverse("admin:telemetry_connectionlog_changelist")
    first = client.get(url).content.decode()
    assert "more on the next page" in first
    # No total anywhere: not as the paginator's "250 connection logs", not as "250 total".
    assert not re.search(r"(?<![\w-])250 (connection|total)", first)
    third = client.get(f"{url}?p=3").content.decode()
    assert third.count('class="field-event_type"') == 50
    assert "more on the next page" not in third
    # Beyond the last page: the last one, counted no further than the page asked for.
    beyond = client.get(f"{url}?p=9")
    assert beyond.status_code == 200
    assert [str(m) for m in beyond.context["messages"]] == [
        "There is no page 9 with these filters; this is the last one, page 3."
    ]
    assert beyond.content.decode().count('class="field-event_type"') == 50


def test_the_log_list_reads_the_newest_first_index_instead_of_sorting(staff_client):
    """The changelist's own query, explained with sequential scans priced out (as they are on
    a table of millions): each daily partition read newest first through its share of
    log_recent_idx (PostgreSQL names those after the partition), merged, with no Sort node."""
    make_logs(20)
    client, _ = staff_client("support")
    with CaptureQueriesContext(connection) as captured:
        client.get(reverse("admin:telemetry_connectionlog_changelist"))
    [listing] = [q["sql"] for q in captured.captured_queries if "LIMIT 101" in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {listing}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert re.search(r"Index Scan using (log_recent_idx|\w+_occurred_at_id_idx)", plan), plan
    # Merge Append's "Sort Key" merges the partitions' ordered scans; a Sort node would sort.
    assert not re.search(r"(^|->)\s*(Incremental )?Sort\s+\(", plan, re.MULTILINE), plan
    # No date hierarchy: its year and month links run SELECT DISTINCT over the whole table.
    assert ConnectionLogAdmin.date_hierarchy is None

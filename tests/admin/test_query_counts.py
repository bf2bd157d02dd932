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


def test_pages_changed_by_the_console_run_a_fixed_number_of_queries(
    staff_client, exact_queries, ride
):
    """The index (the staff member's own recent actions), a ride's and a rider's history, a
    log's page (with the events around it), the rider page and the time-zone page."""
    from riders.services import rider_set_staff_time_zone
    from rooms.services import participant_remove

    client, member = staff_client("support")
    rider_set_staff_time_zone(rider=member, time_zone="Europe/Rome")
    participant_remove(room=ride.room, rider=ride.riders[0], actor=member, reason="Testing")
    log = ConnectionLogFactory(user=ride.riders[1], room=ride.room, event_type="ice_failed")
    pages = {
        reverse("admin:index"): INDEX_QUERIES,
        reverse("admin:rooms_room_history", args=[ride.room.pk]): HISTORY_QUERIES,
        reverse("admin:riders_rider_history", args=[ride.riders[0].pk]): HISTORY_QUERIES,
        reverse("admin:telemetry_connectionlog_change", args=[log.pk]): LOG_PAGE_QUERIES,
        reverse("admin:riders_rider_change", args=[ride.riders[1].pk]): RIDER_PAGE_QUERIES,
        reverse("admin:time_zone"): TIME_ZONE_QUERIES,
    }
    for url, expected in pages.items():
        client.get(url)  # Django's content-type cache, filled once per process
        page_queries(client, exact_queries, url, expected)


# session, staff member, their permissions (2), and then:
INDEX_QUERIES = 5  # their last ten audit entries
HISTORY_QUERIES = 6  # the object, the audit entries about it with their actors
LOG_PAGE_QUERIES = 6  # the log with its rider and ride, for the title and for the page
RIDER_PAGE_QUERIES = 9  # the rider, their rides, devices, roles and recent problems
TIME_ZONE_QUERIES = 4  # nothing more


@pytest.mark.parametrize(
    ("params", "index"),
    [
        (
            {"event_type__exact": "kicked"},
            r"(log_rare_type_recent_idx|\w+_event_type_occurred_at_id_idx)",
        ),
        ({"ride": "RIDE"}, r"(log_room_recent_idx|\w+_room_id_occurred_at_id_idx)"),
    ],
)
def test_rare_types_and_a_ride_read_their_own_newest_first_index(staff_client, params, index):
    """Filtered by a rare event type or by ride, the list reads an index in its order (no
    Sort node) instead of scanning log_recent_idx past the other rows (docs/benchmarks.md)."""
    rider = RiderFactory()
    room = room_create(creator=rider, name="Logged ride")
    other = room_create(creator=RiderFactory(), name="Another ride")
    ConnectionLogFactory.create_batch(300, user=rider, room=other, event_type="quality_report")
    ConnectionLogFactory.create_batch(3, user=rider, room=room, event_type="kicked")
    client, _ = staff_client("support")
    code = room.code
    with connection.cursor() as cursor:
        # The plan of a table of millions, from statistics that say how rare the rows are.
        cursor.execute("ANALYZE telemetry_connectionlog")
    query = {key: code if value == "RIDE" else value for key, value in params.items()}
    with CaptureQueriesContext(connection) as captured:
        client.get(reverse("admin:telemetry_connectionlog_changelist"), query)
    [listing] = [q["sql"] for q in captured.captured_queries if "LIMIT 101" in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(f"EXPLAIN {listing}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert re.search(rf"Index Scan using {index}", plan), plan
    assert not re.search(r"(^|->)\s*(Incremental )?Sort\s+\(", plan, re.MULTILINE), plan

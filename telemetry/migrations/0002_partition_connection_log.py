"""Turn telemetry_connectionlog into a table partitioned by day of occurred_at.

Create the partitioned table next to the old one, copy every row, drop the old one. The
primary key and the client-event unique key of a partitioned table must hold the partition
key, so they become (id, occurred_at) and (user_id, client_event_id, occurred_at); Django
still sees ``id`` as the primary key. See docs/telemetry.md.
"""

from datetime import UTC, datetime, timedelta

import django.db.models.constraints
from django.conf import settings
from django.db import migrations

EVENT_TYPES = (
    "'connected', 'disconnected', 'reconnecting', 'reconnected', 'ice_failed', 'ice_restart', "
    "'quality_report', 'joined', 'left', 'kicked', 'network_changed'"
)

TO_PARTITIONED = f"""
ALTER TABLE telemetry_connectionlog RENAME TO telemetry_connectionlog_unpartitioned;
ALTER TABLE telemetry_connectionlog_unpartitioned
    RENAME CONSTRAINT telemetry_connectionlog_pkey TO telemetry_connectionlog_unpartitioned_pkey;
ALTER TABLE telemetry_connectionlog_unpartitioned
    DROP CONSTRAINT log_client_event_unique_per_rider;
DROP INDEX log_room_time_idx;
DROP INDEX log_user_time_idx;
DROP INDEX log_occurred_brin;

CREATE TABLE telemetry_connectionlog (
    id uuid NOT NULL,
    event_type varchar(32) NOT NULL,
    metrics jsonb NOT NULL,
    occurred_at timestamp with time zone NOT NULL,
    recorded_at timestamp with time zone NOT NULL,
    client_event_id varchar(64) NULL,
    room_id uuid NULL,
    user_id uuid NOT NULL,
    CONSTRAINT telemetry_connectionlog_pkey PRIMARY KEY (id, occurred_at),
    CONSTRAINT log_client_event_time_unique UNIQUE (user_id, client_event_id, occurred_at),
    CONSTRAINT log_event_type_known CHECK (event_type IN ({EVENT_TYPES})),
    CONSTRAINT log_client_event_id_not_empty
        CHECK (NOT (client_event_id = '' AND client_event_id IS NOT NULL))
) PARTITION BY RANGE (occurred_at);
ALTER TABLE telemetry_connectionlog
    ADD CONSTRAINT telemetry_connectionlog_room_id_3b9546de_fk_rooms_room_id
    FOREIGN KEY (room_id) REFERENCES rooms_room (id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE telemetry_connectionlog
    ADD CONSTRAINT telemetry_connectionlog_user_id_21cbd485_fk_riders_rider_id
    FOREIGN KEY (user_id) REFERENCES riders_rider (id) DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX log_room_time_idx ON telemetry_connectionlog (room_id, occurred_at);
CREATE INDEX log_user_time_idx ON telemetry_connectionlog (user_id, occurred_at);
CREATE INDEX log_occurred_brin ON telemetry_connectionlog USING brin (occurred_at);
CREATE TABLE telemetry_connectionlog_default PARTITION OF telemetry_connectionlog DEFAULT;
"""

COPY_AND_DROP_OLD = """
INSERT INTO telemetry_connectionlog
    (id, event_type, metrics, occurred_at, recorded_at, client_event_id, room_id, user_id)
SELECT id, event_type, metrics, occurred_at, recorded_at, client_event_id, room_id, user_id
FROM telemetry_connectionlog_unpartitioned;
DROP TABLE telemetry_connectionlog_unpartitioned;
"""

TO_PLAIN = f"""
CREATE TABLE telemetry_connectionlog_plain (
    id uuid NOT NULL PRIMARY KEY,
    event_type varchar(32) NOT NULL,
    metrics jsonb NOT NULL,
    occurred_at timestamp with time zone NOT NULL,
    recorded_at timestamp with time zone NOT NULL,
    client_event_id varchar(64) NULL,
    room_id uuid NULL REFERENCES rooms_room (id) DEFERRABLE INITIALLY DEFERRED,
    user_id uuid NOT NULL REFERENCES riders_rider (id) DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT log_event_type_known CHECK (event_type IN ({EVENT_TYPES})),
    CONSTRAINT log_client_event_id_not_empty
        CHECK (NOT (client_event_id = '' AND client_event_id IS NOT NULL))
);
INSERT INTO telemetry_connectionlog_plain
    (id, event_type, metrics, occurred_at, recorded_at, client_event_id, room_id, user_id)
SELECT DISTINCT ON (user_id, client_event_id, CASE WHEN client_event_id IS NULL THEN id END)
    id, event_type, metrics, occurred_at, recorded_at, client_event_id, room_id, user_id
FROM telemetry_connectionlog
ORDER BY user_id, client_event_id, CASE WHEN client_event_id IS NULL THEN id END, recorded_at;
DROP TABLE telemetry_connectionlog;
ALTER TABLE telemetry_connectionlog_plain RENAME TO telemetry_connectionlog;
ALTER TABLE telemetry_connectionlog RENAME CONSTRAINT telemetry_connectionlog_plain_pkey
    TO telemetry_connectionlog_pkey;
ALTER TABLE telemetry_connectionlog ADD CONSTRAINT log_client_event_unique_per_rider
    UNIQUE (user_id, client_event_id);
CREATE INDEX log_room_time_idx ON telemetry_connectionlog (room_id, occurred_at);
CREATE INDEX log_user_time_idx ON telemetry_connectionlog (user_id, occurred_at);
CREATE INDEX log_occurred_brin ON telemetry_connectionlog USING brin (occurred_at);
"""


def create_daily_partitions(apps, schema_editor):
    """One partition per UTC day, from the retention horizon to a few days ahead.

    Rows older than the retention go to the default partition; the cleanup removes them.
    """
    today = datetime.now(UTC).date()
    first = today - timedelta(days=settings.TELEMETRY_RETENTION_DAYS)
    last = today + timedelta(days=settings.TELEMETRY_PARTITION_DAYS_AHEAD)
    day = first
    while day <= last:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        schema_editor.execute(
            f"CREATE TABLE telemetry_connectionlog_p{day:%Y%m%d} "
            "PARTITION OF telemetry_connectionlog FOR VALUES FROM (%s) TO (%s)",
            [start, start + timedelta(days=1)],
        )
        day += timedelta(days=1)


class Migration(migrations.Migration):

    dependencies = [
        ("telemetry", "0001_initial"),
        ("rooms", "0001_initial"),
        ("riders", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(TO_PARTITIONED, reverse_sql=migrations.RunSQL.noop),
                migrations.RunPython(create_daily_partitions, migrations.RunPython.noop),
                migrations.RunSQL(COPY_AND_DROP_OLD, reverse_sql=TO_PLAIN),
            ],
            state_operations=[
                migrations.RemoveConstraint(
                    model_name="connectionlog", name="log_client_event_unique_per_rider"
                ),
                migrations.AddConstraint(
                    model_name="connectionlog",
                    constraint=django.db.models.constraints.UniqueConstraint(
                        fields=("user", "client_event_id", "occurred_at"),
                        name="log_client_event_time_unique",
                    ),
                ),
            ],
        ),
    ]

"""A cursor whose statements PostgreSQL prepares once per pooled connection.

The telemetry statements (the ingest's lookup-and-insert, the statistics report) are each one
fixed SQL text over a table of some forty daily partitions: planning one costs several
milliseconds, as much as running it for an hour's window or a batch of 500 events. Prepared,
PostgreSQL plans it once per connection; partitions are still pruned, at execution time.
Parameters travel apart from the SQL text (server-side binding), so a batch's JSON document
is sent as it is instead of being quoted into the statement.
"""

from django.db import connection
from django.db.backends.postgresql.base import ServerBindingCursor


class _PreparedCursor(ServerBindingCursor):
    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=True, binary=binary)


def prepared_cursor():
    """A cursor of Django's connection (so queries are logged and wrapped as usual)."""
    connection.ensure_connection()
    raw = _PreparedCursor(connection.connection)
    if connection.queries_logged:
        return connection.make_debug_cursor(raw)
    return connection.make_cursor(raw)

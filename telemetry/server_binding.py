"""A cursor that sends parameters apart from the SQL text, and never prepares.

The ingest's statement carries a batch as one JSON document of some 100 KB: bound on the
server it travels as it is, where Django's default client-side binding would quote it into
the SQL text. The statements are not prepared: a prepared statement over the daily
partitions soon switches to a generic plan, which cannot prune partitions while planning and
was measured slower, for a statistics report over an hour up to twice as slow, than planning
each run for its own window.
"""

from django.db import connection
from django.db.backends.postgresql.base import ServerBindingCursor


class _UnpreparedCursor(ServerBindingCursor):
    results_binary = False

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=False, binary=self.results_binary)


def server_binding_cursor(*, binary: bool = False):
    """A cursor of Django's connection (so queries are logged and wrapped as usual).

    ``binary`` asks for results in PostgreSQL's binary format: a report's bucket times and
    figures are then read without parsing text.
    """
    connection.ensure_connection()
    # django-stubs declare ServerBindingCursor without its psycopg base class, and the
    # wrappers as taking Django's own cursor rather than the driver's.
    raw = _UnpreparedCursor(connection.connection)  # type: ignore[call-arg]
    raw.results_binary = binary
    if connection.queries_logged:
        return connection.make_debug_cursor(raw)  # type: ignore[arg-type]
    return connection.make_cursor(raw)  # type: ignore[arg-type]

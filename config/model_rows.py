"""Model instances from the rows of hand-written SQL, as the ORM would have loaded them.

The hottest statements (the bearer token lookup, joining and leaving a ride) are written as
SQL: compiling their querysets cost more than running them. Their rows still become model
instances, so serializers and callers cannot tell the difference.
"""

from django.db import connection


def model_from_row(model, fields, values):
    """An instance from one row's ``values`` for ``fields`` (model fields, in column order),
    each passed through its field's database converters as the ORM does. Fields not given
    are deferred: read from the database on first access, never silently defaulted."""
    converted = []
    for field, value in zip(fields, values, strict=True):
        for converter in field.get_db_converters(connection):
            value = converter(value, field, connection)
        converted.append(value)
    return model.from_db(connection.alias, [field.attname for field in fields], converted)


def model_from_values(model, **values):
    """model_from_row with the values named by attribute (``room_id=...``), in any order."""
    fields = [field for field in model._meta.concrete_fields if field.attname in values]
    return model_from_row(model, fields, [values[field.attname] for field in fields])

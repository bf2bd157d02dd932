# The support console lists connection logs newest first. Built CONCURRENTLY: on a table of
# millions of rows a plain CREATE INDEX would block phones' uploads while it runs.

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("telemetry", "0001_initial"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="connectionlog",
            index=models.Index(fields=["-occurred_at", "-id"], name="log_recent_idx"),
        ),
    ]

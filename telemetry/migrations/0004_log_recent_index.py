# The support console lists connection logs newest first. On the partitioned table the index
# is built on every daily partition; it ships in the same release as 0002, which rewrites the
# table anyway, so there is no separate concurrent build to protect uploads from.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("telemetry", "0003_stats_columns_and_covering_indexes"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="connectionlog",
            index=models.Index(fields=["-occurred_at", "-id"], name="log_recent_idx"),
        ),
    ]

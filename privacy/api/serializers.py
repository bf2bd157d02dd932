from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api.serializers import ReadModelSerializer, StrictSerializer
from privacy.models import ExportJob, ExportState

DOWNLOAD_PATH = "/api/v1/riders/me/export/download/"


class AccountDeleteSerializer(StrictSerializer):
    password = serializers.CharField(
        max_length=1000,
        trim_whitespace=False,
        allow_blank=True,
        help_text="The account's current password, to confirm the deletion.",
    )


class ExportJobSerializer(ReadModelSerializer):
    """An export the rider asked for: its state and, once ready, where to download it."""

    state = serializers.SerializerMethodField(
        help_text="pending or building: ask again later; ready: download it before "
        "expires_at, once; downloaded, expired or failed: ask for a new one."
    )
    download_url = serializers.SerializerMethodField(
        help_text="While ready: the path to GET, with the same token, for the zip archive."
    )

    class Meta:
        model = ExportJob
        fields = [
            "id",
            "state",
            "requested_at",
            "ready_at",
            "expires_at",
            "finished_at",
            "size_bytes",
            "download_url",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=ExportState.choices))
    def get_state(self, job: ExportJob) -> str:
        return job.state_at(self.context["now"])

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_download_url(self, job: ExportJob) -> str | None:
        return DOWNLOAD_PATH if self.get_state(job) == ExportState.READY else None

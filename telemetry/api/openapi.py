"""What the telemetry API's schema says beyond its serializers: examples."""

from drf_spectacular.utils import OpenApiExample

EVENT_BATCH_EXAMPLES = [
    OpenApiExample(
        "Buffered events",
        value={
            "events": [
                {
                    "event_type": "quality_report",
                    "occurred_at": "2026-05-03T09:15:00Z",
                    "client_event_id": "ana-phone:1042",
                    "metrics": {
                        "rtt_ms": 85,
                        "jitter_ms": 6.5,
                        "packet_loss_pct": 0.4,
                        "network_type": "4g",
                    },
                    "room_code": "K7PX3M",
                },
                {
                    "event_type": "network_changed",
                    "occurred_at": "2026-05-03T09:16:30Z",
                    "client_event_id": "ana-phone:1043",
                    "metrics": {"network_type": "3g", "signal_level": 2},
                },
            ]
        },
        request_only=True,
    ),
]

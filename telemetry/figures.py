"""A connection event's figures as people read them: labelled, rounded, with units, and the
quality score the statistics compute (telemetry.quality), so nobody has to know what
``rtt_ms 491.4756513679622`` means."""

from telemetry.quality import metrics_mos, rating

# (metrics key, label, how the number is written); in the order they are shown.
_NUMBERS = (
    ("rtt_ms", "Round trip", "{:.0f} ms"),
    ("packet_loss_pct", "Loss", "{:.1f} %"),
    ("jitter_ms", "Jitter", "{:.0f} ms"),
    ("bitrate_kbps", "Bitrate", "{:.0f} kbit/s"),
    ("signal_level", "Signal", "{:.0f}/4"),
    ("signal_dbm", "Signal", "{:.0f} dBm"),
    ("battery_pct", "Battery", "{:.0f} %"),
)
_WORDS = (
    ("network_type", "Network"),
    ("ice_state", "ICE"),
    ("connection_state", "Link"),
    ("reason", "Why"),
)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def figures_labelled(metrics: object) -> list[tuple[str, str]]:
    """(label, value) pairs of the figures an event carries, numbers rounded with units;
    a figure stored as something else than its kind is left out, like the statistics do."""
    if not isinstance(metrics, dict):
        return []
    shown: list[tuple[str, str]] = []
    for key, label, template in _NUMBERS:
        number = _number(metrics.get(key))
        if number is not None:
            shown.append((label, template.format(number)))
    for key, label in _WORDS:
        value = metrics.get(key)
        if isinstance(value, str) and value:
            shown.append((label, value))
    return shown


def quality_score(metrics: object) -> tuple[float, str] | None:
    """The event's MOS (1 to 4.5) and its rating, or None when it carries no quality figure."""
    if not isinstance(metrics, dict):
        return None
    score = metrics_mos(metrics)
    if score is None:
        return None
    return score, rating(score) or "lost"


def figures_summary(metrics: object) -> str:
    """One line: "Quality 3.9 (good) · Round trip 491 ms · Loss 8.5 % · Network 3g"."""
    if not isinstance(metrics, dict):
        return "Malformed figures"
    parts = [f"{label} {value}" for label, value in figures_labelled(metrics)]
    score = quality_score(metrics)
    if score is not None:
        parts.insert(0, f"Quality {score[0]:.1f} ({score[1]})")
    return " · ".join(parts) or "—"

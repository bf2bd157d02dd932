"""Start-up with a malformed environment stops with one line naming the variable."""

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from config import database, email_config, env, redis_config, startup
from tests.ops.processes import (
    CLOSED_DATABASE_URL,
    CLOSED_REDIS_URL,
    CONFIGURATION_PREFIXES,
    PRODUCTION_MAIL,
    PROJECT_ROOT,
    run_manage,
)

# Servers that are never contacted: the settings fail before any connection is tried, and no
# embedded server starts for a test about a typo.
_CLOSED_SERVERS = {"DATABASE_URL": CLOSED_DATABASE_URL, "REDIS_URL": CLOSED_REDIS_URL}
_CLOSED_REDIS = {"REDIS_URL": CLOSED_REDIS_URL}


@pytest.mark.parametrize(
    ("variable", "environment"),
    [
        ("DB_PORT", {"DB_HOST": "127.0.0.1", "DB_PORT": "abc", **_CLOSED_REDIS}),
        ("DB_POOL_SIZE", {"DB_HOST": "127.0.0.1", "DB_POOL_SIZE": "0", **_CLOSED_REDIS}),
        (
            "DB_CONNECTION_LIMIT",
            {
                "DB_HOST": "127.0.0.1",
                "DB_POOL_SIZE": "8",
                "DB_CONNECTION_LIMIT": "4",
                **_CLOSED_REDIS,
            },
        ),
        ("DB_RETRY_ATTEMPTS", {"DB_RETRY_ATTEMPTS": "-1", **_CLOSED_SERVERS}),
        ("REDIS_URL", {"DATABASE_URL": CLOSED_DATABASE_URL, "REDIS_URL": "http://x"}),
        ("DATABASE_URL", {"DATABASE_URL": "mysql://x", **_CLOSED_REDIS}),
        ("DATABASE_URL", {"DATABASE_URL": "postgresql://127.0.0.1:5432", **_CLOSED_REDIS}),
        ("LOG_LEVEL", {"LOG_LEVEL": "LOUD", **_CLOSED_SERVERS}),
        ("LOG_FORMAT", {"LOG_FORMAT": "xml", **_CLOSED_SERVERS}),
        ("HTTP_THREADS_PER_WORKER", {"HTTP_THREADS_PER_WORKER": "0", **_CLOSED_SERVERS}),
        (
            "METRICS_ALLOWED_NETWORKS",
            {"METRICS_ALLOWED_NETWORKS": "10.0.0.0/33", **_CLOSED_SERVERS},
        ),
        ("REDIS_URL", {"DATABASE_URL": CLOSED_DATABASE_URL, "REDIS_URL": "memcached://x:11211"}),
        (
            "REDIS_PORT",
            {"DATABASE_URL": CLOSED_DATABASE_URL, "REDIS_HOST": "127.0.0.1", "REDIS_PORT": "99999"},
        ),
        ("EMAIL_PORT", {"EMAIL_HOST": "smtp.example.com", "EMAIL_PORT": "0", **_CLOSED_SERVERS}),
        ("EMAIL_SECURITY", {"EMAIL_SECURITY": "maybe", **_CLOSED_SERVERS}),
        ("EMAIL_TIMEOUT", {"EMAIL_TIMEOUT": "0", **_CLOSED_SERVERS}),
        ("EMAIL_FROM", {"EMAIL_FROM": "Convoy <not an address>", **_CLOSED_SERVERS}),
        ("EMAIL_HOST_USER", {"EMAIL_HOST_PASSWORD": "secret", **_CLOSED_SERVERS}),
        ("EMAIL_HOST_PASSWORD", {"EMAIL_HOST_USER": "convoy", **_CLOSED_SERVERS}),
        (
            "EMAIL_SECURITY=none",
            {
                "EMAIL_HOST_USER": "convoy",
                "EMAIL_HOST_PASSWORD": "secret",
                "EMAIL_SECURITY": "none",
                **_CLOSED_SERVERS,
            },
        ),
        ("CONVOY_PUBLIC_URL", {"CONVOY_PUBLIC_URL": "ftp://convoy.example", **_CLOSED_SERVERS}),
        ("EMAIL_REQUEST_WAIT_MS", {"EMAIL_REQUEST_WAIT_MS": "-1", **_CLOSED_SERVERS}),
        (
            "THROTTLE_VERIFICATION_MAIL_RATE",
            {"THROTTLE_VERIFICATION_MAIL_RATE": "often", **_CLOSED_SERVERS},
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_malformed_variable_stops_start_up_with_one_line(variable, environment):
    result = run_manage("check", env=environment, isolate=True)

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert variable in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("convoy: configuration error: ")


@pytest.mark.parametrize(
    ("arguments", "environment", "line"),
    [
        (("--workers", "0"), {}, "--workers must be an integer from 1 to 64, got '0'"),
        (("--workers", "many"), {}, "--workers must be an integer from 1 to 64, got 'many'"),
        ((), {"CONVOY_WORKERS": "65"}, "CONVOY_WORKERS must be an integer from 1 to 64, got '65'"),
        (
            (),
            {"WEB_CONCURRENCY": "-2"},
            "WEB_CONCURRENCY must be an integer from 1 to 64, got '-2'",
        ),
        ((), {"CONVOY_PORT": "http"}, "CONVOY_PORT must be an integer from 1 to 65535, got 'http'"),
        (
            (),
            {"CONVOY_SHUTDOWN_TIMEOUT_SECONDS": "0"},
            "CONVOY_SHUTDOWN_TIMEOUT_SECONDS must be an integer from 1 to 600, got '0'",
        ),
        (
            (),
            {"HTTP_KEEP_ALIVE_SECONDS": "forever"},
            "HTTP_KEEP_ALIVE_SECONDS must be an integer from 1 to 3600, got 'forever'",
        ),
    ],
)
def test_serve_refuses_a_bad_worker_count_or_port_with_one_line(
    test_database_env, arguments, environment, line
):
    result = run_manage("serve", *arguments, env={**test_database_env, **environment})

    assert result.returncode == 2
    assert result.stderr.strip() == f"convoy: configuration error: {line}"


def test_a_read_only_data_directory_stops_start_up_with_one_line(tmp_path):
    data = tmp_path / "convoy-data"
    data.mkdir()
    data.chmod(0o555)
    # As root a mode is no obstacle; run the child as nobody, as a locked-down host would.
    result = run_manage(
        "check",
        env={"CONVOY_DATA_DIR": str(data), "DB_RETRY_ATTEMPTS": "1"},
        isolate=True,
        user=65534 if os.geteuid() == 0 else None,
    )

    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line == (
        f"convoy: configuration error: CONVOY_DATA_DIR {data} is not writable for the embedded "
        "servers (Permission denied); free space there, fix its permissions, or set "
        "DATABASE_URL and REDIS_URL"
    )


def test_unreachable_database_stops_migrate_after_the_retries():
    result = run_manage(
        "migrate",
        env={**_CLOSED_SERVERS, "DB_RETRY_ATTEMPTS": "2"},
        isolate=True,
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    # Each failed attempt but the last is logged as a retry; the last one explains the stop.
    assert lines[-1] == (
        "convoy: PostgreSQL at 127.0.0.1:1/convoy is unreachable after 2 attempt(s): "
        'connection failed: connection to server at "127.0.0.1", port 1 failed: '
        "Connection refused"
    )
    assert [line for line in lines if "unreachable after" in line] == [lines[-1]]
    assert len(lines) == 2
    assert "attempt 1 of 2" in lines[0]


# --- config.env -----------------------------------------------------------------------------


def test_env_str_treats_blank_as_unset(monkeypatch):
    monkeypatch.setenv("CONVOY_TEST_VALUE", "   ")
    assert env.env_str("CONVOY_TEST_VALUE", "fallback") == "fallback"
    monkeypatch.setenv("CONVOY_TEST_VALUE", "  kept  ")
    assert env.env_str("CONVOY_TEST_VALUE") == "kept"


def test_env_int_parses_and_defaults(monkeypatch):
    monkeypatch.delenv("CONVOY_TEST_NUMBER", raising=False)
    assert env.env_int("CONVOY_TEST_NUMBER", 7, minimum=1) == 7
    monkeypatch.setenv("CONVOY_TEST_NUMBER", " 42 ")
    assert env.env_int("CONVOY_TEST_NUMBER", 7, minimum=1, maximum=100) == 42


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("abc", "CONVOY_TEST_NUMBER must be an integer from 1 to 10, got 'abc'"),
        ("0", "CONVOY_TEST_NUMBER must be an integer from 1 to 10, got '0'"),
        ("11", "CONVOY_TEST_NUMBER must be an integer from 1 to 10, got '11'"),
        ("1.5", "CONVOY_TEST_NUMBER must be an integer from 1 to 10, got '1.5'"),
    ],
)
def test_env_int_names_the_variable_and_the_range(monkeypatch, raw, expected):
    monkeypatch.setenv("CONVOY_TEST_NUMBER", raw)
    with pytest.raises(ImproperlyConfigured) as caught:
        env.env_int("CONVOY_TEST_NUMBER", 5, minimum=1, maximum=10)
    assert str(caught.value) == expected


@pytest.mark.parametrize(
    ("minimum", "maximum", "expected"),
    [
        (1, None, "an integer of at least 1"),
        (None, 9, "an integer of at most 9"),
        (None, None, "an integer"),
    ],
)
def test_env_int_describes_open_ranges(monkeypatch, minimum, maximum, expected):
    monkeypatch.setenv("CONVOY_TEST_NUMBER", "x")
    with pytest.raises(ImproperlyConfigured, match=expected):
        env.env_int("CONVOY_TEST_NUMBER", minimum=minimum, maximum=maximum)


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("Yes", True), ("off", False)])
def test_env_bool(monkeypatch, raw, expected):
    monkeypatch.setenv("CONVOY_TEST_FLAG", raw)
    assert env.env_bool("CONVOY_TEST_FLAG", not expected) is expected


def test_env_bool_refuses_anything_else(monkeypatch):
    monkeypatch.setenv("CONVOY_TEST_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="CONVOY_TEST_FLAG must be true or false"):
        env.env_bool("CONVOY_TEST_FLAG", False)


def test_env_choice(monkeypatch):
    monkeypatch.delenv("CONVOY_TEST_CHOICE", raising=False)
    assert env.env_choice("CONVOY_TEST_CHOICE", ("a", "b"), "a") == "a"
    monkeypatch.setenv("CONVOY_TEST_CHOICE", "c")
    with pytest.raises(ImproperlyConfigured, match="CONVOY_TEST_CHOICE must be one of a, b"):
        env.env_choice("CONVOY_TEST_CHOICE", ("a", "b"), "a")


def test_env_list_drops_empty_items(monkeypatch):
    monkeypatch.setenv("CONVOY_TEST_LIST", " a.example, ,b.example,")
    assert env.env_list("CONVOY_TEST_LIST", []) == ["a.example", "b.example"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("http://x", "CONVOY_TEST_URL must use one of the schemes redis, got 'http'"),
        ("x", "CONVOY_TEST_URL must use one of the schemes redis, got 'none'"),
        ("redis://host:port/0", "CONVOY_TEST_URL is not a valid URL"),
        ("redis://host:99999/0", "CONVOY_TEST_URL is not a valid URL"),
    ],
)
def test_env_url_refuses_malformed_urls(monkeypatch, raw, message):
    monkeypatch.setenv("CONVOY_TEST_URL", raw)
    with pytest.raises(ImproperlyConfigured) as caught:
        env.env_url("CONVOY_TEST_URL", ("redis",))
    assert str(caught.value).startswith(message)


# --- config.database ------------------------------------------------------------------------


def test_database_url_from_db_variables_keeps_an_awkward_password(
    monkeypatch, without_configuration
):
    monkeypatch.setenv("DB_HOST", "db.internal")
    monkeypatch.setenv("DB_PORT", "6432")
    monkeypatch.setenv("DB_USERNAME", "convoy@app")
    monkeypatch.setenv("DB_PASSWORD", "p@ss:w/rd#?%")
    monkeypatch.setenv("DB_NAME", "convoy_prod")

    config = database.database_settings(database.database_url_from_env())

    assert config["HOST"] == "db.internal"
    assert config["PORT"] == 6432
    assert config["USER"] == "convoy@app"
    assert config["PASSWORD"] == "p@ss:w/rd#?%"
    assert config["NAME"] == "convoy_prod"
    assert config["ENGINE"] == "config.postgresql"
    assert config["CONN_MAX_AGE"] == 0


def test_database_url_defaults(monkeypatch, without_configuration):
    monkeypatch.setenv("DB_HOST", "127.0.0.1")

    assert database.database_configured()
    assert database.database_url_from_env() == "postgresql://postgres@127.0.0.1:5432/convoy"


def test_database_url_wins_over_db_variables(monkeypatch, without_configuration):
    monkeypatch.setenv("DATABASE_URL", "postgres://u@elsewhere:5433/other")
    monkeypatch.setenv("DB_HOST", "ignored")

    assert database.database_url_from_env() == "postgres://u@elsewhere:5433/other"


def test_a_socket_directory_survives_as_the_host(monkeypatch, without_configuration):
    monkeypatch.setenv("DB_HOST", "/cloudsql/Project:europe-west1:Convoy")

    config = database.database_settings(database.database_url_from_env())

    assert config["HOST"] == "/cloudsql/Project:europe-west1:Convoy"
    assert "host" not in config["OPTIONS"]


def test_an_ipv6_host(monkeypatch, without_configuration):
    monkeypatch.setenv("DB_HOST", "::1")

    assert database.database_settings(database.database_url_from_env())["HOST"] == "::1"


def test_connect_timeout_is_short_unless_the_url_says_otherwise(without_configuration):
    default = database.database_settings("postgresql://u@h/convoy")
    chosen = database.database_settings("postgresql://u@h/convoy?connect_timeout=20")

    assert default["OPTIONS"]["connect_timeout"] == database.CONNECT_TIMEOUT_SECONDS
    assert chosen["OPTIONS"]["connect_timeout"] == 20


def test_a_url_without_a_database_name_is_refused(without_configuration):
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL must name a database"):
        database.database_settings("postgresql://u@h:5432")


def test_pool_options_defaults(without_configuration):
    assert database.pool_options() == {
        "min_size": 10,
        "max_size": 20,
        "timeout": 10,
        "reconnect_timeout": database.POOL_RECONNECT_TIMEOUT_SECONDS,
    }


def test_pool_options_from_the_environment(monkeypatch, without_configuration):
    monkeypatch.setenv("DB_POOL_SIZE", "30")
    monkeypatch.setenv("DB_POOL_TIMEOUT", "3")

    # Without a limit, room to grow to twice the pool.
    assert database.pool_options() == {
        "min_size": 30,
        "max_size": 60,
        "timeout": 3,
        "reconnect_timeout": database.POOL_RECONNECT_TIMEOUT_SECONDS,
    }

    monkeypatch.setenv("DB_CONNECTION_LIMIT", "30")
    assert database.pool_options()["max_size"] == 30


def test_pool_limit_below_pool_size_is_refused(monkeypatch, without_configuration):
    monkeypatch.setenv("DB_POOL_SIZE", "10")
    monkeypatch.setenv("DB_CONNECTION_LIMIT", "5")

    with pytest.raises(ImproperlyConfigured) as caught:
        database.pool_options()
    assert str(caught.value) == "DB_CONNECTION_LIMIT must be at least DB_POOL_SIZE (10), got 5"


@pytest.mark.parametrize("raw", ["0", "-1", "101", "many"])
def test_retry_attempts_range(monkeypatch, raw):
    monkeypatch.setenv("DB_RETRY_ATTEMPTS", raw)
    with pytest.raises(ImproperlyConfigured, match="DB_RETRY_ATTEMPTS"):
        database.retry_attempts()


# --- config.redis_config --------------------------------------------------------------------


def test_redis_url_from_redis_variables(monkeypatch, without_configuration):
    monkeypatch.setenv("REDIS_HOST", "cache.internal")
    monkeypatch.setenv("REDIS_PORT", "6380")
    monkeypatch.setenv("REDIS_DB", "2")
    monkeypatch.setenv("REDIS_PASSWORD", "s3cr@t/")

    url = redis_config.redis_url_from_env()

    assert url == "redis://:s3cr%40t%2F@cache.internal:6380/2"
    assert redis_config.describe_redis(url) == "cache.internal:6380/2"


def test_redis_on_a_unix_socket(monkeypatch, without_configuration):
    monkeypatch.setenv("REDIS_HOST", "/run/redis/redis.sock")

    url = redis_config.redis_url_from_env()

    assert url == "unix:///run/redis/redis.sock?db=0"
    assert redis_config.describe_redis(url) == "/run/redis/redis.sock"


def test_redis_db_range(monkeypatch, without_configuration):
    monkeypatch.setenv("REDIS_HOST", "cache.internal")
    monkeypatch.setenv("REDIS_DB", "16")

    with pytest.raises(ImproperlyConfigured, match="REDIS_DB must be an integer from 0 to 15"):
        redis_config.redis_url_from_env()


# --- config.startup -------------------------------------------------------------------------


def test_one_line_folds_a_multi_line_message():
    message = ImproperlyConfigured("first\n  second\n\nthird")

    assert startup.one_line(message) == "first; second; third"


def _production_hsts(**environment: str) -> str:
    # The settings module alone, in a child process: manage.py would first wait for servers.
    child_env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(CONFIGURATION_PREFIXES)
    }
    child_env.update(
        {"DJANGO_SECRET_KEY": "s" * 40, **_CLOSED_SERVERS, **PRODUCTION_MAIL, **environment}
    )
    code = (
        "from config.settings import production as s; "
        "print(s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize("variable", sorted(PRODUCTION_MAIL))
def test_production_settings_name_the_mail_variable_they_lack(variable):
    environment = {
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": "s" * 40,
        **_CLOSED_SERVERS,
        **{name: value for name, value in PRODUCTION_MAIL.items() if name != variable},
    }

    result = run_manage("check", env=environment, isolate=True)

    assert result.returncode != 0
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"convoy: configuration error: {variable} must be set"), line


def test_production_links_are_https_only():
    environment = {
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": "s" * 40,
        **_CLOSED_SERVERS,
        **PRODUCTION_MAIL,
        "CONVOY_PUBLIC_URL": "http://convoy.example.com",
    }

    result = run_manage("check", env=environment, isolate=True)

    [line] = result.stderr.strip().splitlines()
    assert "CONVOY_PUBLIC_URL must use one of the schemes https" in line, line


def test_mail_settings_from_the_environment(monkeypatch):
    for name, value in {
        "EMAIL_HOST": "smtp.example.com",
        "EMAIL_SECURITY": "ssl",
        "EMAIL_HOST_USER": "convoy",
        "EMAIL_HOST_PASSWORD": "p@ss word",
        "EMAIL_FROM": "Convoy <no-reply@example.com>",
        "EMAIL_TIMEOUT": "7",
    }.items():
        monkeypatch.setenv(name, value)

    mail = email_config.email_settings_from_env()

    assert mail.backend == email_config.SMTP_BACKEND
    assert (mail.host, mail.port, mail.use_ssl, mail.use_tls) == (
        "smtp.example.com",
        465,
        True,
        False,
    )
    assert (mail.user, mail.password, mail.timeout) == ("convoy", "p@ss word", 7)
    assert mail.sender == "Convoy <no-reply@example.com>"


def test_mail_without_a_host_goes_to_the_console(monkeypatch):
    for name in ("EMAIL_HOST", "EMAIL_PORT", "EMAIL_SECURITY", "EMAIL_FROM"):
        monkeypatch.delenv(name, raising=False)

    mail = email_config.email_settings_from_env()

    assert mail.backend == email_config.CONSOLE_BACKEND
    assert (mail.port, mail.use_tls) == (587, True)
    assert mail.sender == email_config.DEVELOPMENT_SENDER


def test_production_sends_hsts_for_a_year_by_default():
    assert _production_hsts() == "31536000 False False"


def test_production_hsts_is_configurable():
    output = _production_hsts(
        DJANGO_HSTS_SECONDS="600", DJANGO_HSTS_INCLUDE_SUBDOMAINS="true", DJANGO_HSTS_PRELOAD="true"
    )

    assert output == "600 True True"

"""Contract check: schemathesis against the live OpenAPI schema of a running server.

    .venv/bin/python .ci/contract.py [extra `schemathesis run` options]

Seeds fresh riders with rides, memberships and some telemetry, starts ``manage.py serve``
and lets schemathesis exercise every operation, authenticated, with the schema's examples,
its coverage cases (boundaries and invalid values), a bounded number of generated requests
and stateful sequences along the schema's links. It fails on any 5xx response and on any
response the schema does not describe (status or body), and the ignored_auth check replays
requests without the token. Path parameters and credentials are drawn half the time from the
seeded data, so requests get past "not found" into the business rules.

Two real riders are tested. A member of the seeded ride first runs every read operation, so
the ride-scoped reads (participants, presence, statistics) are exercised by an active
participant; then the ride's leader runs every operation, its generated joins and leaves
moving them between rides (and possibly ending that ride). Log-out revokes the token it is
sent with, so it, log-out-everywhere and signing out a device each run in a pass of their
own, with tokens of their own; so does deleting an account, last, by a rider of its own who
knows the seeded password (half its generated bodies carry it, so the account is deleted
early and the rest of the pass meets a revoked token).

Reports (JUnit, and the server's log with the traceback of every 5xx) land in
``artifacts/contract/``; the server's tracebacks are also printed after a failed run.
"""

import itertools
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import running_server, setup_django  # noqa: E402

ARTIFACTS = ROOT / "artifacts" / "contract"
MAX_EXAMPLES = os.environ.get("CONTRACT_MAX_EXAMPLES", "50")
# A hard bound on the run: past it schemathesis is interrupted (it still prints what it found)
# and the check fails, since a server that slow is itself a problem.
TIME_LIMIT_SECONDS = int(os.environ.get("CONTRACT_TIME_LIMIT", "420"))
# Every check schemathesis has: server errors, statuses, headers and bodies as documented,
# valid data accepted and invalid data refused, auth not ignored, deleted things gone.
CHECKS = "all"
# A fresh seed each run, printed, so a failure found once can be replayed with CONTRACT_SEED.
SEED = int(os.environ.get("CONTRACT_SEED") or secrets.randbelow(2**31))
# What the schema cannot say, told to the checks, each for a reason the API documents:
# - 422 "breaks a rule of Convoy" answers valid-looking requests that meet the ride's state
#   (ended, full) or a rule between fields (a statistics window over 366 days, the wrong
#   current password): schema-valid data may meet it;
# - a page past the last, or a cursor not issued by the server, is 400 on the lists;
# - a mailed link's token the server did not issue is 400, a spent one 410: any well-formed
#   token that schemathesis makes up is one of those;
# - asking for an export starts one (202) unless one is under way (200), and an export's
#   archive, downloaded once, is gone (410).
CHECK_EXPECTATIONS = [
    "",
    "[checks.positive_data_acceptance]",
    'expected-statuses = ["200", "201", "202", "204", "401", "403", "404", "409", "410", "422", "429"]',
    "",
    "[[operations]]",
    'include-name-regex = "^POST /api/v1/auth/(verify-email|password-reset/confirm)/$"',
    'checks.positive_data_acceptance.expected-statuses = ["200", "400", "410", "422", "429"]',
    "",
    "[[operations]]",
    'include-name-regex = "^GET /api/v1/(rooms|riders/me/(rooms|devices|emergency-contacts)|rooms/[^/]+/(participants|removed|alerts)|telemetry/events)/$"',
    "checks.positive_data_acceptance.expected-statuses = "
    '["200", "400", "401", "403", "404", "409", "422", "429"]',
]
# Logging out revokes the token it is sent with (log-out-everywhere every token of the rider),
# so each gets a pass of its own, after the main one, with a token of the other rider.
LOG_OUT = "auth_logout_create"
LOG_OUT_EVERYWHERE = "auth_logout_all_create"
# Signing out a device may sign out the token it is sent with: a pass of its own too.
SIGN_OUT_DEVICE = "riders_me_devices_destroy"
# Deleting the account ends every token of its rider: a pass of its own, with a rider of its own.
DELETE_ACCOUNT = "riders_me_delete"
# How often a path parameter or credential takes a seeded value rather than a generated one.
SEEDED_VALUE_PROBABILITY = 0.5


@dataclass(frozen=True)
class Seeded:
    key: str
    reader_key: str
    peer_keys: tuple[str, str]
    device_key: str
    leaving_key: str
    password: str
    usernames: list[str]
    rider_ids: list[str]
    room_codes: list[str]


def seed() -> Seeded:
    """A ride led by the tested rider with two more riders in it (one of them the reader of
    the read-only pass) and one removed from it, and a ride of the peer's."""
    from riders.auth_tokens import token_issue
    from riders.services import rider_create
    from rooms.alerts import alert_raise
    from rooms.services import participant_join, participant_remove, room_create
    from telemetry.models import ExportJob
    from telemetry.services import connection_log_ingest_batch

    run = secrets.token_hex(4)
    password = secrets.token_urlsafe(18)
    rider = rider_create(
        username=f"contract{run}", email=f"contract{run}@convoy.test", password=password
    )
    peer = rider_create(username=f"peer{run}", email=f"peer{run}@convoy.test", password=None)
    led = room_create(creator=rider, name="Contract ride")
    peer_room = room_create(creator=peer, name="Peer ride")
    participant_join(rider=peer, code=led.code)
    reader = rider_create(username=f"reader{run}", email=f"reader{run}@convoy.test", password=None)
    participant_join(rider=reader, code=led.code)
    # Barred from the led ride, for the leader to list and readmit.
    removed = rider_create(
        username=f"removed{run}", email=f"removed{run}@convoy.test", password=None
    )
    # In the led ride too, so its deletion takes it out of a ride.
    leaving = rider_create(
        username=f"leaving{run}", email=f"leaving{run}@convoy.test", password=password
    )
    participant_join(rider=leaving, code=led.code)
    # A long export waiting for build_exports (which this check never runs): the reader's
    # export reads answer its state and "not ready" rather than "none asked for".
    ExportJob.objects.create(rider=reader)
    participant_join(rider=removed, code=led.code)
    participant_remove(room=led, rider=removed, actor=rider)
    now = datetime.now(UTC)
    connection_log_ingest_batch(
        rider=rider,
        events=[
            {
                "event_type": "quality_report",
                "occurred_at": (now - timedelta(minutes=n)).isoformat(),
                "client_event_id": f"seed-{n}",
                "metrics": {"rtt_ms": 40 + n, "jitter_ms": 3, "packet_loss_pct": 0.5},
                "room_code": led.code,
            }
            for n in range(10)
        ],
    )
    # Alerts in the led ride, for its list (open, and a countdown only its rider sees).
    alert_raise(
        room_id=led.pk,
        rider_id=reader.pk,
        kind="silent",
        position={"lat": 46.5, "lon": 8.1, "speed_kmh": 60, "heading_deg": 90, "at": now},
        trail=[{"lat": 46.49, "lon": 8.09, "speed_kmh": 62, "heading_deg": 88, "at": now}],
        details={"grace_seconds": 90},
    )
    alert_raise(
        room_id=led.pk,
        rider_id=peer.pk,
        kind="sos",
        position=None,
        trail=[],
        details={"countdown_seconds": 120},
        countdown_seconds=120,
    )
    return Seeded(
        key=token_issue(rider=rider, device_name="schemathesis").key,
        reader_key=token_issue(rider=reader, device_name="schemathesis reader").key,
        peer_keys=(
            token_issue(rider=peer, device_name="schemathesis log-out").key,
            token_issue(rider=peer, device_name="schemathesis log-out everywhere").key,
        ),
        # Not the peer's: log-out-everywhere has revoked those by the time this pass runs.
        device_key=token_issue(rider=removed, device_name="schemathesis device sign-out").key,
        leaving_key=token_issue(rider=leaving, device_name="schemathesis deletion").key,
        password=password,
        usernames=[rider.username, peer.username, reader.username, removed.username],
        rider_ids=[str(rider.pk), str(peer.pk), str(reader.pk), str(removed.pk)],
        room_codes=[led.code, peer_room.code],
    )


def schemathesis_config(seeded: Seeded, *, key: str) -> str:
    """A schemathesis.toml: the token, and dictionaries of the seeded values."""
    dictionaries = {
        "room_codes": seeded.room_codes,
        "rider_ids": seeded.rider_ids,
        "usernames": seeded.usernames,
        "passwords": [seeded.password],
    }
    bindings = {
        "path.code": "room_codes",
        "query.room": "room_codes",
        "path.id": "rider_ids",
        "path.rider_id": "rider_ids",
        "path.username": "usernames",
        "body.username": "usernames",
        "body.password": "passwords",
    }
    lines = [
        "[auth.openapi.bearerAuth]",
        f"bearer = {json.dumps(key)}",
        "",
        "[cache]",
        "enabled = false",
        "",
        "# Every generated request carries the token, so it gets past authentication into the",
        "# business rules; the ignored_auth check sends each one again without it.",
        "[generation]",
        "with-security-parameters = false",
        # Every text field refuses NUL (PostgreSQL cannot store it): none is generated.
        "allow-x00 = false",
    ]
    for name, values in dictionaries.items():
        lines += ["", f"[dictionaries.{name}]", f"values = {json.dumps(values)}"]
    lines += CHECK_EXPECTATIONS
    lines += ["", "[parameters]"]
    for parameter, dictionary in bindings.items():
        lines.append(
            f'"{parameter}" = {{ dictionary = "{dictionary}", '
            f"probability = {SEEDED_VALUE_PROBABILITY} }}"
        )
    return "\n".join(lines) + "\n"


def schemathesis_command(base: str, config: Path, name: str, extra: list[str]) -> list[str]:
    return [
        str(Path(sys.executable).parent / "schemathesis"),
        "--config-file",
        str(config),
        "run",
        f"{base}/api/schema/",
        "--url",
        base,
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--checks",
        CHECKS,
        "--max-examples",
        MAX_EXAMPLES,
        "--workers",
        "2",
        "--request-timeout",
        "10",
        "--seed",
        str(SEED),
        "--no-color",
        "--generation-database",
        "none",
        "--report",
        "junit",
        "--report-junit-path",
        str(ARTIFACTS / f"junit-{name}.xml"),
        *extra,
    ]


def print_server_errors(log: Path) -> None:
    """Each distinct traceback behind a 5xx, after the request that caused it."""
    lines = log.read_text(errors="replace").splitlines()
    seen, request = set(), ""
    for number, line in enumerate(lines):
        if "Internal Server Error:" in line:
            request = line
        if not line.startswith("Traceback (most recent call last):"):
            continue
        frames = list(itertools.takewhile(lambda text: text.startswith(" "), lines[number + 1 :]))
        after = number + 1 + len(frames)
        error = lines[after] if after < len(lines) else ""
        if error not in seen:
            seen.add(error)
            print("\n".join(["", request, line, *frames, error]))


def run_bounded(command: list[str], *, deadline: float) -> int:
    process = subprocess.Popen(command, cwd=ROOT)
    try:
        return process.wait(timeout=max(deadline - time.monotonic(), 1))
    except subprocess.TimeoutExpired:
        print(f"\nContract run exceeded {TIME_LIMIT_SECONDS} s; interrupting it.", flush=True)
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        return 1


def main() -> int:
    started = time.monotonic()
    print(f"Contract seed {SEED} (replay with CONTRACT_SEED={SEED})", flush=True)
    setup_django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    seeded = seed()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    server_log = ARTIFACTS / "server.log"
    relaxed = {
        "THROTTLE_RIDER_RATE": "1000000/min",
        "THROTTLE_CREDENTIALS_IP_RATE": "1000000/min",
        "THROTTLE_CREDENTIALS_ACCOUNT_RATE": "1000000/min",
        "THROTTLE_PASSWORD_FAILURES_RATE": "1000000/min",
        "THROTTLE_VERIFICATION_MAIL_RATE": "1000000/min",
        "THROTTLE_PASSWORD_RESET_MAIL_RATE": "1000000/min",
        "LOG_LEVEL": "ERROR",
    }
    log_out_key, log_out_everywhere_key = seeded.peer_keys
    passes = [
        # First, and only reads: the reader's membership of the seeded ride holds for the
        # whole pass (the main pass's leader may end that ride or remove its riders).
        ("reader", seeded.reader_key, ["--include-method", "GET"]),
        (
            "main",
            seeded.key,
            [
                *("--exclude-operation-id", LOG_OUT),
                *("--exclude-operation-id", LOG_OUT_EVERYWHERE),
                *("--exclude-operation-id", SIGN_OUT_DEVICE),
                *("--exclude-operation-id", DELETE_ACCOUNT),
            ],
        ),
        ("log-out", log_out_key, ["--include-operation-id", LOG_OUT]),
        (
            "log-out-everywhere",
            log_out_everywhere_key,
            ["--include-operation-id", LOG_OUT_EVERYWHERE],
        ),
        ("device-sign-out", seeded.device_key, ["--include-operation-id", SIGN_OUT_DEVICE]),
        ("delete-account", seeded.leaving_key, ["--include-operation-id", DELETE_ACCOUNT]),
    ]
    deadline = started + TIME_LIMIT_SECONDS
    codes = []
    # The configurations hold tokens, so they stay out of the artifacts.
    with (
        tempfile.TemporaryDirectory() as scratch,
        running_server(
            workers=2,
            # Export archives (personal data) in the scratch directory, gone with it.
            extra_env={**relaxed, "EXPORT_DIR": str(Path(scratch) / "exports")},
            log_path=server_log,
        ) as base,
    ):
        for name, key, operations in passes:
            print(f"\n== contract pass: {name}", flush=True)
            config = Path(scratch) / f"{name}.toml"
            config.write_text(schemathesis_config(seeded, key=key))
            command = schemathesis_command(base, config, name, [*operations, *sys.argv[1:]])
            codes.append(run_bounded(command, deadline=deadline))
            if time.monotonic() >= deadline:
                break
    code = max(codes)
    print(f"\nContract run took {time.monotonic() - started:.0f} s; server log: {server_log}")
    if code != 0:
        print_server_errors(server_log)
    return code


if __name__ == "__main__":
    sys.exit(main())

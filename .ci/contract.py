"""Contract check: schemathesis against the live OpenAPI schema of a running server.

Starts ``manage.py serve``, logs a rider in, and lets schemathesis generate a bounded number
of requests per operation (valid and invalid ones), failing on any 5xx response or any
response that does not match the schema.
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import running_server, setup_django  # noqa: E402

MAX_EXAMPLES = os.environ.get("CONTRACT_MAX_EXAMPLES", "30")
# Logging out would revoke the token the rest of the run authenticates with.
EXCLUDED_OPERATIONS = "^(auth_logout_create|auth_logout_all_create)$"


def main() -> int:
    setup_django()
    from django.core.management import call_command

    from riders.auth_tokens import token_issue
    from riders.selectors import rider_find_by_username
    from riders.services import rider_create
    from rooms.services import room_create

    call_command("migrate", verbosity=0)
    rider = rider_find_by_username(username="contract.rider") or rider_create(
        username="contract.rider", email="contract.rider@convoy.test", password=None
    )
    key = token_issue(rider=rider, device_name="schemathesis").key
    room_create(creator=rider, name="Contract ride")
    relaxed = {
        "THROTTLE_RIDER_RATE": "1000000/min",
        "THROTTLE_CREDENTIALS_IP_RATE": "1000000/min",
        "THROTTLE_CREDENTIALS_ACCOUNT_RATE": "1000000/min",
        "LOG_LEVEL": "ERROR",
    }
    with running_server(workers=1, extra_env=relaxed) as base:
        return subprocess.call(
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "run",
                f"{base}/api/schema/",
                "--url",
                f"{base}",
                "--header",
                f"Authorization: Bearer {key}",
                "--checks",
                "not_a_server_error,response_schema_conformance",
                "--max-examples",
                MAX_EXAMPLES,
                "--exclude-operation-id-regex",
                EXCLUDED_OPERATIONS,
                "--seed",
                "2026",
                "--no-color",
                "--workers",
                "2",
                "--generation-database",
                "none",
            ],
            cwd=ROOT,
        )


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Convoy's two commands for a machine with nothing but Python 3.11+.

    python3 dev.py run    set up, migrate, load the demo, serve HTTP + WebSocket and watch
                          the rides (manage.py serve and manage.py watch_rides)
    python3 dev.py test   set up and run the whole test suite (extra args go to pytest)
    python3 dev.py setup  only create or update the virtual environment

Each run creates the virtual environment in .venv if missing and installs the pinned
requirements only when requirements/dev.txt has changed since the last install. Every step
runs in that environment through manage.py or pytest, which start the embedded PostgreSQL and
Redis (config/embedded.py) when the environment names no server; this script, on the
system's Python, imports nothing of the project.
"""

import hashlib
import signal
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON = VENV / "bin" / "python"
REQUIREMENTS = ROOT / "requirements" / "dev.txt"
STAMP = VENV / ".requirements.sha256"


def ensure_environment() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py runs on whatever python3 is there
        sys.exit("convoy: Python 3.11 or newer is required")
    if not PYTHON.exists():
        print("convoy: creating the virtual environment in .venv", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    print("convoy: installing the pinned requirements", flush=True)
    pip = [str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    _run([*pip, "uv"])
    _run(
        [
            str(VENV / "bin" / "uv"),
            "pip",
            "install",
            "--quiet",
            "--python",
            str(PYTHON),
            "-r",
            str(REQUIREMENTS),
        ]
    )
    STAMP.write_text(wanted)


def manage(*args: str) -> None:
    _run([str(PYTHON), "manage.py", *args])


def run(_: list[str]) -> int:
    manage("migrate", "--noinput")
    manage("collectstatic", "--noinput", "--verbosity", "0")
    manage("seed_demo")
    # The ride watcher and the delivery worker (webhooks) beside the server; stopping
    # dev.py stops all three (Ctrl-C reaches the whole process group, SIGTERM is passed on).
    children = [
        subprocess.Popen([str(PYTHON), "manage.py", "watch_rides"], cwd=ROOT),
        subprocess.Popen([str(PYTHON), "manage.py", "procrastinate", "worker"], cwd=ROOT),
        subprocess.Popen([str(PYTHON), "manage.py", "serve"], cwd=ROOT),
    ]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return children[-1].wait()
    except KeyboardInterrupt:
        return 130
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            child.wait()


def test(pytest_args: list[str]) -> int:
    # Commands the suite runs in child processes use the configured database itself.
    manage("create_database", "--verbosity", "0")
    return subprocess.call([str(PYTHON), "-m", "pytest", *pytest_args], cwd=ROOT)


def _run(command: list[str]) -> None:
    result = subprocess.run(command, cwd=ROOT, check=False)
    if result.returncode != 0:
        sys.exit(result.returncode)


def setup(_: list[str]) -> int:
    return 0


COMMANDS = {"run": run, "test": test, "setup": setup}


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.stderr.write(f"usage: python3 dev.py {{{'|'.join(COMMANDS)}}} [args]\n")
        return 2
    ensure_environment()
    return COMMANDS[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())

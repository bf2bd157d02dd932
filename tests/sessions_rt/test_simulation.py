"""manage.py simulate_ride against a live server and a watcher: the scripted incidents reach
the server as a group's phones would make them, and the server raises what it should."""

import io

import pytest
from django.core.management import CommandError, call_command

from bench.harness import running_server
from tests.sessions_rt.watching import cluster_environment, watcher_process

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def server(django_db_setup):
    with running_server(workers=1, extra_env=cluster_environment()) as base:
        yield base


@pytest.fixture
def server_and_watcher(server, transactional_db):
    """The module's server and a watcher of this test's own: it queries every tick, so it
    stops before the test's tables are emptied (TRUNCATE would deadlock with it)."""
    with watcher_process(cluster_environment()):
        yield server


def simulate(base, *arguments):
    out = io.StringIO()
    call_command("simulate_ride", "--server", base, *arguments, stdout=out)
    return out.getvalue()


def test_a_rider_silent_at_speed_is_raised_and_a_tunnel_is_not(server_and_watcher):
    silent = simulate(
        server_and_watcher, "--riders", "4", "--duration", "12", "--incident", "silent:3:4"
    )
    assert "incident silent began" in silent
    assert [line for line in silent.splitlines() if line.startswith("alert")] == [
        line for line in silent.splitlines() if line.startswith("alert silent for rider 4")
    ]
    assert "alert silent for rider 4" in silent

    tunnel = simulate(
        server_and_watcher, "--riders", "4", "--duration", "14", "--incident", "tunnel:3:3,4:6"
    )
    assert "incident tunnel began" in tunnel
    assert "alert" not in tunnel.replace("incident", "")


def test_a_rider_falling_behind_is_cut_off(server_and_watcher):
    # Riders 900 m apart (within the default 1 km of each other) at 90 km/h; from 2 s the
    # last rides at half speed, losing 12.5 m a second: past 1 km behind after 8 s more.
    output = simulate(
        server_and_watcher,
        *("--riders", "3", "--speed", "90", "--spacing", "900", "--duration", "20"),
        *("--incident", "fall_behind:2:3"),
    )
    assert "alert split for rider 3" in output
    assert "alert split for rider 2" not in output


@pytest.mark.parametrize(
    "arguments",
    [
        ["--riders", "1"],
        ["--riders", "51"],
        ["--incident", "crash:3"],
        ["--incident", "stop:soon"],
        ["--riders", "3", "--incident", "stop:3:4"],
        ["--duration", "0"],
    ],
)
def test_bad_arguments_are_refused_before_anything_is_created(arguments):
    from riders.models import Rider

    before = Rider.objects.count()
    with pytest.raises(CommandError):
        call_command("simulate_ride", *arguments, stdout=io.StringIO())
    assert Rider.objects.count() == before

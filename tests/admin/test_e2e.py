"""The console in a real browser (system Chromium through Playwright) against a live server:
a support agent finds a ride by its code, looks at it and ends it; a moderator removes a
rider from a ride. A screenshot of the room page is kept in artifacts/e2e/."""

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from riders.models import AuditAction, AuditEntry
from rooms.models import Room, RoomParticipant
from sessions_rt.store.members import member_join
from tests.admin.conftest import make_staff
from tests.riders.factories import TEST_PASSWORD
from tests.telemetry.factories import ConnectionLogFactory

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "e2e"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Without Chromium a developer's run skips these; CI installs it (.ci/run), so there a missing
# browser fails the run instead of hiding the tests.
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not Path(CHROMIUM).exists() and os.environ.get("CI") != "true",
        reason="system Chromium is not installed",
    ),
]


def in_browser(script) -> None:
    """Run ``script(page)`` in a fresh Chromium. Playwright's sync API drives an event loop, and
    Django refuses ORM calls from a thread running one: the browser gets a thread of its own,
    the test's thread keeps the database."""
    from playwright.sync_api import sync_playwright

    def run():
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.set_default_timeout(15_000)
                script(page)
            finally:
                browser.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(run).result()


def log_in(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", TEST_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")


def add_ride_history(ride) -> None:
    start = timezone.now() - timedelta(minutes=50)
    for minute in range(0, 50, 2):
        ConnectionLogFactory(
            user=ride.riders[minute % 2],
            room=ride.room,
            event_type="quality_report",
            occurred_at=start + timedelta(minutes=minute),
            metrics={"rtt_ms": 60 + minute * 4, "packet_loss_pct": (minute % 7) * 0.8},
        )
    ConnectionLogFactory(
        user=ride.riders[0],
        room=ride.room,
        event_type="reconnected",
        occurred_at=start + timedelta(minutes=21),
    )
    member_join(ride.room.pk, ride.leader.pk, leader_id=ride.leader.pk)
    member_join(ride.room.pk, ride.riders[0].pk, leader_id=ride.leader.pk)


def test_a_support_agent_finds_a_ride_by_code_checks_it_and_ends_it(live_server, ride):
    agent = make_staff("support")
    add_ride_history(ride)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    seen = {}

    def script(page):
        log_in(page, live_server.url, agent.username)
        page.locator("#content-main a[href='/admin/rooms/room/']").first.click()
        page.fill("#searchbar", ride.room.code.lower())
        page.press("#searchbar", "Enter")
        page.get_by_role("link", name=ride.room.code).click()
        page.wait_for_selector("svg.convoy-quality-chart")
        seen["participants"] = page.locator(".inline-group").inner_text()
        seen["online"] = page.locator("#live-panel").inner_text()
        page.screenshot(path=str(ARTIFACTS / "room-page.png"), full_page=True)
        page.go_back()
        page.check("input[name=_selected_action]")
        page.select_option("select[name=action]", "deactivate_rooms")
        page.click("button[name=index]")
        seen["confirm"] = page.locator("#content").inner_text()
        page.fill("input[name=reason]", "Leader asked us to close it (ticket 812)")
        page.get_by_role("button", name="Yes, end 1 ride(s)").click()
        seen["message"] = page.locator(".messagelist").inner_text()

    in_browser(script)

    assert all(r.username in seen["participants"] for r in [ride.leader, *ride.riders])
    assert "leader-lena" in seen["online"]
    assert "End 1 ride(s)?" in seen["confirm"]
    assert str(ride.room) in seen["confirm"]
    assert "Ended 1 ride(s)" in seen["message"]
    assert not Room.objects.get(pk=ride.room.pk).is_active
    entry = AuditEntry.objects.get(action=AuditAction.ROOM_DEACTIVATED)
    assert (entry.actor, entry.details["reason"]) == (
        agent,
        "Leader asked us to close it (ticket 812)",
    )
    assert (ARTIFACTS / "room-page.png").stat().st_size > 10_000


def test_a_moderator_removes_a_rider_from_a_ride(live_server, ride):
    moderator = make_staff("moderator")
    marco = ride.riders[0]
    seen = {}

    def script(page):
        log_in(page, live_server.url, moderator.username)
        page.goto(f"{live_server.url}/admin/rooms/room/{ride.room.pk}/change/")
        row = page.locator(".inline-group tbody tr", has_text=marco.username)
        row.get_by_role("link", name="Remove from ride").click()
        page.fill("input[name=reason]", "Riding dangerously, reported by the leader")
        page.get_by_role("button", name=f"Yes, remove {marco.username}").click()
        seen["message"] = page.locator(".messagelist").inner_text()
        seen["remove_links"] = page.locator("a.remove-rider").count()

    in_browser(script)

    assert f"Removed {marco.username} from {ride.room}" in seen["message"]
    assert seen["remove_links"] == 2  # the leader and nina are still riding
    assert not RoomParticipant.objects.get(room=ride.room, user=marco).is_active
    entry = AuditEntry.objects.get(action=AuditAction.PARTICIPANT_REMOVED)
    assert (entry.actor, entry.details["username"]) == (moderator, marco.username)

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


def seed_tunnel_ride():
    """The demo's scripted ride (config/management/demo.py), yesterday 14:00-14:30 UTC."""
    from config.management.demo import TUNNEL_RIDER, tunnel_story
    from rooms.services import participant_join, room_create
    from telemetry.models import ConnectionLog
    from tests.riders.factories import RiderFactory

    riders = {name: RiderFactory(username=name) for name in ("paul.gt", TUNNEL_RIDER, "ria.adv")}
    room = room_create(creator=riders["paul.gt"], name="Tunnel Pass Ride")
    for name in (TUNNEL_RIDER, "ria.adv"):
        participant_join(rider=riders[name], code=room.code)
    day = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    ConnectionLog.objects.bulk_create(
        ConnectionLog(
            user=riders[log.username],
            room=room,
            event_type=log.event_type,
            metrics=log.metrics,
            occurred_at=log.occurred_at,
            recorded_at=log.recorded_at,
            client_event_id=log.client_event_id,
        )
        for log in tunnel_story(day_start=day, seed=1)
    )
    return room, day


def test_the_timeline_tells_annas_story_at_desktop_and_phone_width(live_server):
    agent = make_staff("support")
    room, day = seed_tunnel_ride()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    window = f"?tl_from={day:%Y-%m-%d} 14:00:00&tl_to={day:%Y-%m-%d} 14:30:00"
    seen = {}

    def script(page):
        log_in(page, live_server.url, agent.username)
        page.fill("#console-search input[name=q]", room.code.lower())
        page.press("#console-search input[name=q]", "Enter")
        page.wait_for_selector("#timeline-panel")
        page.goto(f"{live_server.url}/admin/rooms/room/{room.pk}/change/{window}")
        anna = page.locator(".tl-row[data-rider='anna.berg']")
        seen["labels"] = anna.locator(".tl-labels").inner_text()
        seen["drop_title"] = anna.locator("rect.tl-drop").evaluate(
            "el => el.parentElement.querySelector('title').textContent"
        )
        seen["strip_width"] = anna.locator("svg.tl-strip").bounding_box()["width"]
        seen["others_drops"] = page.locator(".tl-row[data-rider='paul.gt'] rect.tl-drop").count()
        page.locator("#timeline-panel").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "ride-page-desktop.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        page.reload()
        phone = page.locator(".tl-row[data-rider='anna.berg'] svg.tl-strip").bounding_box()
        seen["phone_strip"] = phone
        seen["page_width"] = page.evaluate("document.documentElement.scrollWidth")
        page.screenshot(path=str(ARTIFACTS / "ride-page-390.png"), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 900})
        # Clicking the drop opens the logs of its window.
        page.locator(".tl-row[data-rider='anna.berg'] rect.tl-drop").click()
        page.wait_for_selector("#result_list")
        seen["drop_logs"] = page.locator("#result_list").inner_text()

    in_browser(script)

    assert "4g → 3g" in seen["labels"]
    assert "lost 41 s" in seen["labels"]
    assert "reconnected" in seen["labels"]
    assert seen["drop_title"] == "Audio lost 41 s: 14:05:11 → reconnected 14:05:52"
    assert seen["strip_width"] > 900
    assert seen["others_drops"] == 0
    # At 390 px the strip fits the screen instead of being cut.
    assert 300 < seen["phone_strip"]["width"] <= 390
    assert seen["phone_strip"]["x"] >= 0
    assert "Reconnecting" in seen["drop_logs"]
    assert "Reconnected" in seen["drop_logs"]
    assert "paul.gt" not in seen["drop_logs"]
    for name in ("ride-page-desktop.png", "ride-page-390.png"):
        assert (ARTIFACTS / name).stat().st_size > 10_000


def test_every_bulk_action_confirms_before_it_acts(live_server, ride):
    moderator = make_staff("moderator")
    seen = {}
    lists = [
        ("riders/rider", "deactivate_riders", "Yes, deactivate 1 rider(s)"),
        ("rooms/roomparticipant", "remove_participants", "Yes, remove 1 rider(s)"),
        ("rooms/room", "deactivate_rooms", "Yes, end 1 ride(s)"),
    ]

    def script(page):
        log_in(page, live_server.url, moderator.username)
        for path, action, button in lists:
            page.goto(f"{live_server.url}/admin/{path}/?q=nina-k")
            if path == "rooms/room":
                page.goto(f"{live_server.url}/admin/{path}/?q={ride.room.code}")
            page.check("input[name=_selected_action]")
            page.select_option("select[name=action]", action)
            page.click("button[name=index]")
            seen[f"{action}-page"] = page.locator("#content").inner_text()
            # Without a reason the browser itself refuses; the server would too.
            page.get_by_role("button", name=button).click()
            seen[f"{action}-still"] = page.url
            page.fill("input[name=reason]", f"Demo of {action}")
            page.get_by_role("button", name=button).click()
            seen[f"{action}-done"] = page.locator(".messagelist").inner_text()

    nina = ride.riders[1]
    in_browser(script)

    assert "Deactivate 1 rider(s)?" in seen["deactivate_riders-page"]
    assert "nina-k" in seen["deactivate_riders-page"]
    assert "Deactivated 1 rider(s)" in seen["deactivate_riders-done"]
    assert "Remove 1 rider(s) from their ride?" in seen["remove_participants-page"]
    assert "End 1 ride(s)?" in seen["deactivate_rooms-page"]
    assert "Ended 1 ride(s)" in seen["deactivate_rooms-done"]
    reasons = set(
        AuditEntry.objects.filter(actor=moderator).values_list("details__reason", flat=True)
    )
    assert reasons >= {"Demo of deactivate_riders", "Demo of deactivate_rooms"}
    nina.refresh_from_db()
    assert not nina.is_active


def test_a_moderator_reactivates_and_times_follow_their_zone(live_server, ride):
    moderator = make_staff("moderator")
    marco = ride.riders[0]
    ConnectionLogFactory(
        user=marco,
        room=ride.room,
        event_type="ice_failed",
        occurred_at=timezone.now().replace(month=1, day=15, hour=13, minute=5, second=52),
    )
    seen = {}

    def script(page):
        log_in(page, live_server.url, moderator.username)
        page.goto(f"{live_server.url}/admin/riders/rider/{marco.pk}/change/")
        page.click("#deactivate-rider")
        page.fill("input[name=reason]", "Spam in the group channel")
        page.get_by_role("button", name="Yes, deactivate marco-v2").click()
        page.click("#reactivate-rider")
        page.fill("input[name=reason]", "Appeal accepted")
        page.get_by_role("button", name="Yes, reactivate marco-v2").click()
        seen["reactivated"] = page.locator(".messagelist").inner_text()
        seen["own_page_offers"] = None
        page.goto(f"{live_server.url}/admin/riders/rider/{moderator.pk}/change/")
        seen["own_page_offers"] = page.locator("#deactivate-rider").count()
        page.click("#time-zone-link")
        page.select_option("select[name=time_zone]", "Europe/Rome")
        page.click("#time-zone-form input[type=submit]")
        page.goto(f"{live_server.url}/admin/telemetry/connectionlog/?event_type__exact=ice_failed")
        seen["logs"] = page.locator("#result_list").inner_text()
        page.goto(f"{live_server.url}/admin/")
        seen["recent"] = page.locator("#recent-actions-module").inner_text()

    in_browser(script)

    assert "Reactivated marco-v2" in seen["reactivated"]
    assert seen["own_page_offers"] == 0
    marco.refresh_from_db()
    assert marco.is_active
    assert "14:05:52 CET" in seen["logs"]
    assert "(13:05:52 UTC)" in seen["logs"]
    assert "Rider reactivated: marco-v2" in seen["recent"]
    assert "Appeal accepted" in seen["recent"]


def test_the_search_box_and_paging_past_the_end(live_server, ride):
    agent = make_staff("support")
    seen = {}

    def script(page):
        log_in(page, live_server.url, agent.username)
        page.goto(f"{live_server.url}/admin/telemetry/connectionlog/")
        page.fill("#console-search input[name=q]", ride.riders[0].email.upper())
        page.press("#console-search input[name=q]", "Enter")
        page.wait_for_selector("#rider-logs")
        seen["rider_page"] = page.url
        page.goto(f"{live_server.url}/admin/riders/rider/?q=n&is_active__exact=1&p=7")
        seen["message"] = page.locator(".messagelist").inner_text()
        seen["search_kept"] = page.input_value("#searchbar")

    in_browser(script)

    assert seen["rider_page"].endswith(f"/admin/riders/rider/{ride.riders[0].pk}/change/")
    assert "There is no page 7 with these filters; this is the last one, page 1." in seen["message"]
    assert seen["search_kept"] == "n"

"""The demo data set: who rides, in which rooms, and what their phones reported.

Everything here is a pure function of the seed and an anchor time, with no database access,
so the same seed always describes the same riders, rooms and logs; ``seed_demo`` writes it.
"""

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from telemetry.models import EventType

DEMO_EMAIL_DOMAIN = "demo.example.com"
STAFF_USERNAME = "support"
LOG_DAYS = 7
REPORT_EVERY_MINUTES = 5


@dataclass(frozen=True)
class DemoRider:
    username: str
    display_name: str
    is_staff: bool = False

    @property
    def email(self) -> str:
        return f"{self.username}@{DEMO_EMAIL_DOMAIN}"


@dataclass(frozen=True)
class DemoRoom:
    name: str
    creator: str
    members: tuple[str, ...]  # joined after the creator, in this order
    capacity: int = 10
    ended: bool = False
    ride_days: tuple[int, ...] = tuple(range(LOG_DAYS, 0, -1))  # days before the anchor


@dataclass(frozen=True)
class DemoLog:
    username: str
    room_name: str
    event_type: str
    occurred_at: datetime
    recorded_at: datetime
    metrics: dict
    client_event_id: str


RIDERS = (
    DemoRider("alex.moto", "Alex Moreau"),
    DemoRider("sam.rides", "Sam Okafor"),
    DemoRider("jade.twisties", "Jade Lambert"),
    DemoRider("marco.v2", "Marco Bellini"),
    DemoRider("nina.k", "Nina Kowalski"),
    DemoRider("theo.gs", "Théo Girard"),
    DemoRider("lea.roadster", "Léa Fontaine"),
    DemoRider("omar.trail", "Omar Haddad"),
    DemoRider("chloe.cafe", "Chloé Martin"),
    DemoRider("ivan.ural", "Ivan Petrov"),
    DemoRider("mia.scrambler", "Mia Schneider"),
    DemoRider("lucas.tenere", "Lucas Dubois"),
    DemoRider("sofia.ducati", "Sofia Rossi"),
    DemoRider("ben.bonneville", "Ben Carter"),
    DemoRider("emma.hornet", "Emma Laurent"),
    DemoRider("kenji.cb", "Kenji Tanaka"),
    DemoRider("zoe.vespa", "Zoé Bernard"),
    DemoRider("raf.africa", "Rafael Costa"),
    DemoRider("ines.mt07", "Inès Moreau"),
    DemoRider("tom.sidecar", "Tom Fischer"),
    DemoRider("anna.berg", "Anna Berg"),
    DemoRider("paul.gt", "Paul Weber"),
    DemoRider("ria.adv", "Ria Novak"),
    DemoRider(STAFF_USERNAME, "Convoy Support", is_staff=True),
)

# The scripted case support walks through (docs/admin.md): yesterday, 14:00 to 14:30 UTC.
TUNNEL_RIDE = "Tunnel Pass Ride"
TUNNEL_RIDER = "anna.berg"

# In this order: the ended rides first, so their riders are free to be in today's rides after.
ROOMS = (
    DemoRoom(
        TUNNEL_RIDE,
        creator="paul.gt",
        members=(TUNNEL_RIDER, "ria.adv"),
        ended=True,
        ride_days=(),  # no generated logs: the story below is its whole history
    ),
    DemoRoom(
        "Autumn Fog Run",
        creator="ivan.ural",
        members=("omar.trail", "raf.africa", "lucas.tenere"),
        ended=True,
        ride_days=(7, 6, 5),
    ),
    DemoRoom(
        "Sunday Alps Loop",
        creator="alex.moto",
        members=("sam.rides", "jade.twisties", "marco.v2", "nina.k", "theo.gs"),
        capacity=12,
    ),
    DemoRoom(
        "Coastal Cruise",
        creator="lea.roadster",
        members=("omar.trail", "chloe.cafe", "ivan.ural"),
        capacity=8,
    ),
    DemoRoom(
        "Track Day Crew",
        creator="sofia.ducati",
        members=("ben.bonneville", "emma.hornet", "kenji.cb"),
    ),
    DemoRoom(
        "Commute Buddies", creator="zoe.vespa", members=("raf.africa", "ines.mt07"), capacity=4
    ),
    DemoRoom(
        "Scrambler Saturday",
        creator="mia.scrambler",
        members=("lucas.tenere", "tom.sidecar"),
        capacity=6,
    ),
)


@dataclass(frozen=True)
class NetworkProfile:
    """Typical ranges of a voice call's figures on one kind of network, on a moving bike."""

    rtt_ms: tuple[int, int]
    jitter_ms: tuple[float, float]
    packet_loss_pct: tuple[float, float]
    bitrate_kbps: tuple[int, int]
    signal_dbm: tuple[int, int]


NETWORKS = {
    "wifi": NetworkProfile((15, 45), (1, 6), (0, 0.8), (48, 64), (-72, -40)),
    "5g": NetworkProfile((22, 65), (2, 10), (0, 1.5), (40, 64), (-105, -75)),
    "4g": NetworkProfile((40, 120), (4, 25), (0.2, 4), (24, 48), (-112, -80)),
    "cellular": NetworkProfile((90, 280), (10, 60), (1, 9), (12, 32), (-118, -95)),
}
# Riding means mobile data; wifi is the café stop.
NETWORK_WEIGHTS = {"wifi": 6, "5g": 34, "4g": 46, "cellular": 14}


def demo_logs(*, seed: int, anchor: datetime) -> Iterator[DemoLog]:
    """Every ride's connection events on the LOG_DAYS days before ``anchor`` (a midnight).

    The client_event_ids depend only on the seed, so writing the same seed twice stores each
    event once, whatever the anchor.
    """
    rng = random.Random(seed)
    counter = iter(range(1, 1_000_000))
    busy: dict[str, list[tuple[datetime, datetime]]] = {}
    for room in ROOMS:
        riders = (room.creator, *room.members)
        for days_ago in room.ride_days:
            for _ in range(rng.choice((0, 1, 1, 2))):
                # Daytime rides that end before the anchor: none lies in the future.
                start = anchor - timedelta(days=days_ago, hours=-rng.uniform(7, 18))
                minutes = rng.randint(40, 170)
                # Margin for the late joiner and the slow leaver.
                ride = (start, start + timedelta(minutes=minutes + 10))
                wanted = rng.sample(riders, rng.randint(min(2, len(riders)), len(riders)))
                # A rider talks in one room at a time, as the rooms app enforces.
                crew = [name for name in wanted if not _overlaps(ride, busy.get(name, ()))]
                if len(crew) < 2:
                    continue
                for username in crew:
                    busy.setdefault(username, []).append(ride)
                    for event_type, at, metrics in _rider_session(rng, start, minutes):
                        yield DemoLog(
                            username=username,
                            room_name=room.name,
                            event_type=event_type,
                            occurred_at=at,
                            # Phones send their events in batches, a little later.
                            recorded_at=at + timedelta(seconds=rng.uniform(0.2, 30)),
                            metrics=metrics,
                            client_event_id=f"demo-{seed}-{next(counter):06d}",
                        )


def _overlaps(ride: tuple[datetime, datetime], others) -> bool:
    return any(ride[0] < end and start < ride[1] for start, end in others)


def _rider_session(
    rng: random.Random, ride_start: datetime, minutes: int
) -> Iterator[tuple[str, datetime, dict]]:
    at = ride_start + timedelta(seconds=rng.uniform(0, 240))
    network = _pick_network(rng)
    battery = rng.uniform(45, 100)
    yield EventType.JOINED, at, {"network_type": network, "battery_pct": round(battery)}
    at += timedelta(seconds=rng.uniform(0.5, 3))
    yield EventType.CONNECTED, at, {"network_type": network, **_signal(rng, network)}
    end = at + timedelta(minutes=minutes)
    while at + timedelta(minutes=REPORT_EVERY_MINUTES) < end:
        at += timedelta(minutes=REPORT_EVERY_MINUTES, seconds=rng.uniform(-20, 20))
        battery = max(battery - rng.uniform(0.5, 1.5), 3)
        if rng.random() < 0.07:
            network = _pick_network(rng, other_than=network)
            yield EventType.NETWORK_CHANGED, at, {"network_type": network, **_signal(rng, network)}
            at += timedelta(seconds=rng.uniform(1, 5))
        yield from _trouble(rng, at, network)
        yield EventType.QUALITY_REPORT, at, _quality(rng, network, battery)
    at = end + timedelta(seconds=rng.uniform(0, 60))
    if rng.random() < 0.03:
        yield EventType.KICKED, at, {}
    else:
        yield EventType.LEFT, at, {"battery_pct": round(battery)}
    yield EventType.DISCONNECTED, at + timedelta(seconds=1), {"network_type": network}


def _trouble(
    rng: random.Random, at: datetime, network: str
) -> Iterator[tuple[str, datetime, dict]]:
    """Now and then a tunnel or a valley: the call drops and comes back."""
    roll = rng.random()
    if roll < 0.05:
        yield (
            EventType.RECONNECTING,
            at - timedelta(seconds=30),
            {
                "network_type": network,
                "packet_loss_pct": round(rng.uniform(20, 100), 1),
                **_signal(rng, network, weak=True),
            },
        )
        yield (
            EventType.RECONNECTED,
            at - timedelta(seconds=rng.uniform(2, 25)),
            {
                "network_type": network,
                "rtt_ms": round(rng.uniform(*NETWORKS[network].rtt_ms) * 1.5),
            },
        )
    elif roll < 0.065:
        yield EventType.ICE_FAILED, at - timedelta(seconds=40), {"network_type": network}
        yield EventType.ICE_RESTART, at - timedelta(seconds=38), {"network_type": network}
        yield (
            EventType.RECONNECTED,
            at - timedelta(seconds=rng.uniform(5, 30)),
            {"network_type": network},
        )


def _quality(rng: random.Random, network: str, battery: float) -> dict:
    profile = NETWORKS[network]
    degraded = rng.random() < 0.08
    rtt = rng.uniform(*profile.rtt_ms) * (rng.uniform(2, 4) if degraded else 1)
    loss = rng.uniform(*profile.packet_loss_pct) + (rng.uniform(5, 25) if degraded else 0)
    bitrate = rng.uniform(*profile.bitrate_kbps) * (0.5 if degraded else 1)
    return {
        "rtt_ms": round(rtt),
        "jitter_ms": round(rng.uniform(*profile.jitter_ms) * (3 if degraded else 1), 1),
        "packet_loss_pct": round(min(loss, 100), 2),
        "bitrate_kbps": round(bitrate),
        **_signal(rng, network, weak=degraded),
        "battery_pct": round(battery),
        "network_type": network,
    }


def _signal(rng: random.Random, network: str, *, weak: bool = False) -> dict:
    low, high = NETWORKS[network].signal_dbm
    dbm = rng.randint(low - 10, low + 5) if weak else rng.randint(low, high)
    # Five bars across the network's usual range, as phones draw them.
    level = max(0, min(4, round((dbm - low) / (high - low) * 4)))
    return {"signal_dbm": dbm, "signal_level": level}


def _pick_network(rng: random.Random, other_than: str | None = None) -> str:
    choices = {name: w for name, w in NETWORK_WEIGHTS.items() if name != other_than}
    return rng.choices(list(choices), weights=list(choices.values()))[0]


def tunnel_story(*, day_start: datetime, seed: int) -> Iterator[DemoLog]:
    """The scripted ride of ``day_start``'s day (a midnight, UTC), 14:00 to 14:30: three riders
    with good 4G, until Anna's phone drops to 3G at 14:02, her quality sinks, she loses audio
    for 41 s in a tunnel (14:05:11) and reconnects at 14:05:52; from there all is well until
    everyone leaves at 14:30."""
    start = day_start + timedelta(hours=14)
    counter = iter(range(1, 10_000))

    def log(username: str, event_type: str, at: timedelta, **metrics) -> DemoLog:
        moment = start + at
        return DemoLog(
            username=username,
            room_name=TUNNEL_RIDE,
            event_type=event_type,
            occurred_at=moment,
            recorded_at=moment + timedelta(seconds=2),
            metrics=metrics,
            client_event_id=f"demo-{seed}-tunnel-{next(counter):05d}",
        )

    for username in ("paul.gt", TUNNEL_RIDER, "ria.adv"):
        yield log(username, EventType.JOINED, timedelta(seconds=5))
        yield log(username, EventType.CONNECTED, timedelta(seconds=8), network_type="4g")
        for second in range(20, 30 * 60, 20):
            at = timedelta(seconds=second)
            if username != TUNNEL_RIDER or second <= 120:
                yield log(
                    username,
                    EventType.QUALITY_REPORT,
                    at,
                    rtt_ms=70 + second % 40,
                    jitter_ms=4.5,
                    packet_loss_pct=0.4,
                    bitrate_kbps=32,
                    network_type="4g",
                    signal_level=4,
                )
            elif second < 311 or second > 352:
                tunnel = 311 - 60 <= second < 311
                yield log(
                    username,
                    EventType.QUALITY_REPORT,
                    at,
                    rtt_ms=(491.4756513679622 if tunnel else 240 + second % 30)
                    if second <= 360
                    else 95,
                    jitter_ms=28.0 if second <= 360 else 6.0,
                    packet_loss_pct=(8.5 if tunnel else 3.2) if second <= 360 else 0.6,
                    bitrate_kbps=16 if second <= 360 else 32,
                    network_type="3g" if second <= 360 else "4g",
                    signal_level=1 if tunnel else 2 if second <= 360 else 4,
                )
        if username == TUNNEL_RIDER:
            yield log(username, EventType.NETWORK_CHANGED, timedelta(minutes=2), network_type="3g")
            yield log(username, EventType.RECONNECTING, timedelta(minutes=5, seconds=11))
            yield log(username, EventType.ICE_RESTART, timedelta(minutes=5, seconds=30))
            yield log(
                username,
                EventType.RECONNECTED,
                timedelta(minutes=5, seconds=52),
                network_type="3g",
            )
            yield log(username, EventType.NETWORK_CHANGED, timedelta(minutes=6), network_type="4g")
        yield log(username, EventType.LEFT, timedelta(minutes=30))

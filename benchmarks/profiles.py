"""How long and how hard each scenario runs: ``standard`` (~3 minutes here) and ``smoke`` (CI, < 1 minute)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RealtimeProfile:
    concurrency: tuple[int, ...]  # sessions in the round-trip runs
    seconds: float  # one round-trip run (0: ``messages`` round trips per session instead)
    messages: int
    levels: tuple[int, ...]  # concurrent sessions held, RSS read at each
    hold: float  # idle window at each level
    active: float  # active window at each level
    interval_ms: float  # one message per session per interval in the active window


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    rounds: int  # A B pairs per scenario (direct, system), medians taken over them
    seconds: float  # one closed- or open-loop run
    warmup: float  # discarded at the start of each run (connections, caches)
    stream_seconds: float
    stream_interval_ms: float  # pace of the fidelity streams
    sweep: tuple[int, ...]  # extra concurrency levels for the added-latency-vs-concurrency plot
    many_streams: tuple[int, ...]
    many_seconds: float  # shortened from the 30 s so the whole suite stays near 3 minutes
    many_interval_ms: float
    idle_counts: tuple[int, ...]
    idle_hold: float
    upload_mb: int
    uploads: int
    realtime: RealtimeProfile
    overload_seconds: float  # the overload scenario's 2× open loop (capacity and unloaded runs: ``seconds``)


STANDARD = Profile(
    name="standard",
    rounds=3,
    seconds=2.5,
    warmup=0.3,
    stream_seconds=3.0,
    stream_interval_ms=1.0,
    sweep=(4, 16),
    many_streams=(1000, 5000),
    many_seconds=6.0,
    many_interval_ms=20.0,
    idle_counts=(256, 1000, 2000),
    idle_hold=1.5,
    upload_mb=50,
    uploads=2,
    realtime=RealtimeProfile(
        concurrency=(1, 16),
        seconds=2.0,
        messages=0,
        levels=(1000, 5000),
        hold=2.0,
        active=3.0,
        interval_ms=150,
    ),
    overload_seconds=20.0,
)

SMOKE = Profile(
    name="smoke",
    rounds=1,
    seconds=0.4,
    warmup=0.1,
    stream_seconds=0.5,
    stream_interval_ms=1.0,
    sweep=(4,),
    many_streams=(50, 100),
    many_seconds=0.6,
    many_interval_ms=20.0,
    idle_counts=(20, 50),
    idle_hold=0.3,
    upload_mb=5,
    uploads=1,
    realtime=RealtimeProfile(
        concurrency=(1, 4), seconds=0.0, messages=20, levels=(50, 100), hold=0.3, active=0.3, interval_ms=150
    ),
    overload_seconds=1.0,
)

PROFILES = {profile.name: profile for profile in (STANDARD, SMOKE)}


@dataclass(frozen=True, slots=True)
class CompareProfile:
    """``python -m benchmarks compare``: ``standard`` (~2 minutes here) and ``quick`` (tests, ~12 s)."""

    name: str
    rounds: int  # every system measured once per figure per round; medians over the rounds
    seconds: float  # one closed-loop run
    warmup: float  # discarded at the start of each run
    held: int  # paced streams held open for the RSS figure
    hold: float  # seconds they are held


COMPARE = {
    "standard": CompareProfile("standard", rounds=2, seconds=2.5, warmup=0.3, held=256, hold=1.5),
    "quick": CompareProfile("quick", rounds=1, seconds=0.3, warmup=0.05, held=16, hold=0.2),
}

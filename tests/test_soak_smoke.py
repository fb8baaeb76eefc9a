"""The soak script still runs (for a few seconds); its 10-minute figures are in docs/soak.md."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench import soak


def test_a_short_soak_loses_nothing(database_url: str, tmp_path: Path) -> None:
    own = f"{database_url}_soak" if database_url.startswith("postgresql") else f"sqlite:///{tmp_path / 'soak.db'}"
    # Memory is only reported here: a few seconds are all warm-up.
    report = asyncio.run(
        soak.soak(own, minutes=0.1, rate=20, every=2, max_growth_mb=1e6, drain_timeout=20, logs=tmp_path)
    )
    assert not report.exited
    assert len(report.load.accepted) >= 60 and not report.load.refused
    assert report.check.lost == 0, report.markdown()
    by_destination = report.check.by_destination
    assert by_destination["healthy"]["SENT"] > 0 and by_destination["failing"]["SENT"] == 0
    assert set(report.memory) == {"api", "worker1", "worker2"}
    assert all(memory.peak > 20 for memory in report.memory.values())
    assert len(report.samples) >= 4 and report.ok
    assert "| **lost** | **0** " in report.markdown()

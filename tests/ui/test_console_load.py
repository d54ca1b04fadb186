"""The console stays responsive with every one of 32 slots at work."""

from __future__ import annotations

import asyncio

from console_bench import MakeBench
from console_pilot import finish_all, screen_text, sign_in

from station.journal import Journal, RunStatus
from station.line import SlotPhase
from ui import ConsoleApp
from ui.slot_grid import SlotGrid

SLOTS = 32
# Long enough that no module can finish while the test presses its key.
KEYGEN_SECONDS = 2.0


def test_a_key_is_handled_while_thirty_two_slots_are_busy(
    make_bench: MakeBench,
) -> None:
    bench = make_bench(slots=SLOTS, keygen_delay=KEYGEN_SECONDS)
    app = ConsoleApp(bench.config)

    async def scenario() -> tuple[int, int, bool, str, list[SlotPhase]]:
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await sign_in(pilot)
            await pilot.press("a")
            busy_before = len(screen.busy_slots)
            await pilot.press("p")
            busy_after = len(screen.busy_slots)
            paused, text = screen.shift.line.paused, screen_text(app)
            await finish_all(pilot)
            tiles = screen.query_one(SlotGrid).tiles
            return (
                busy_before,
                busy_after,
                paused,
                text,
                [t.status.phase for t in tiles],
            )

    busy_before, busy_after, paused, text, phases = asyncio.run(scenario())

    assert (busy_before, busy_after) == (SLOTS, SLOTS)
    assert paused
    assert "PAUSED" in text
    assert f"in work {SLOTS}/{SLOTS}" in text
    assert phases == [SlotPhase.PASS] * SLOTS
    with Journal(bench.config.journal_path, station="reader") as journal:
        statuses = [run.status for run in journal.runs()]
    assert statuses == [RunStatus.PASS] * SLOTS

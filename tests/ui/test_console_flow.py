"""The console over simulated modules, driven as an operator drives it."""

from __future__ import annotations

import asyncio
import fcntl
import re
from pathlib import Path

from console_bench import LOT, MakeBench, StageClock, fixed_wall_clock
from console_pilot import finish_all, run_all_and_read, screen_text, sign_in, until
from textual.widgets import Input

from device_io.simulator import PortInfo
from station.config import SlotSection
from station.journal import Journal, RunStatus
from station.line import LineMode, SlotPhase
from ui import ConsoleApp
from ui.help_screen import HelpScreen
from ui.quit_screen import QuitScreen
from ui.records_screen import RecordsScreen
from ui.sign_in_screen import SignInScreen
from ui.slot_grid import SlotGrid

SIZE = (100, 30)


def console(bench_config: object) -> ConsoleApp:
    from station.config import StationConfig

    assert isinstance(bench_config, StationConfig)
    return ConsoleApp(bench_config, monotonic=StageClock(), wall_clock=fixed_wall_clock)


def journal_runs(app: ConsoleApp) -> list[tuple[str, str | None, RunStatus]]:
    with Journal(app.config.journal_path, station="reader") as journal:
        return [(run.slot, run.serial, run.status) for run in journal.runs()]


def test_signing_in_shows_station_lot_line_issuer_and_operator(
    make_bench: MakeBench,
) -> None:
    app = console(make_bench(slots=2).config)

    async def scenario() -> str:
        async with app.run_test(size=SIZE) as pilot:
            await sign_in(pilot, badge="B0042")
            return screen_text(app)

    text = asyncio.run(scenario())

    assert "demo-station" in text
    assert f"lot {LOT}" in text
    assert "line demo" in text
    assert "operator B0042" in text
    assert "issuer local HSM: CN=" in text
    assert "queue 0" in text
    assert "queued for issuance 0" in text


def test_a_badge_outside_the_rules_is_refused_before_the_lot(
    make_bench: MakeBench,
) -> None:
    app = console(make_bench(slots=1).config)

    async def scenario() -> tuple[object, str]:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            app.screen.query_one("#badge", Input).value = "B 42;"
            await pilot.press("enter")
            await pilot.press("tab", "enter")
            await pilot.pause()
            return app.screen, screen_text(app)

    screen, text = asyncio.run(scenario())

    assert isinstance(screen, SignInScreen)
    assert "a badge id is 1 to 32 of A-Z a-z 0-9 . _ -" in text
    assert app.shift is None


def test_a_station_without_a_lot_plan_says_how_to_import_one(
    make_bench: MakeBench,
) -> None:
    app = console(make_bench(slots=1, import_plan=False).config)

    async def scenario() -> str:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            return screen_text(app)

    text = asyncio.run(scenario())

    assert "No lot plan is imported on this station: station lot import FILE" in text


def test_the_lot_import_hint_stays_after_a_valid_badge(
    make_bench: MakeBench,
) -> None:
    app = console(make_bench(slots=1, import_plan=False).config)

    async def scenario() -> str:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            app.screen.query_one("#badge", Input).value = "B0042"
            await pilot.press("enter")
            await pilot.pause()
            return screen_text(app)

    text = asyncio.run(scenario())

    assert "No lot plan is imported on this station: station lot import FILE" in text


def test_a_station_that_cannot_open_keeps_the_operator_at_sign_in(
    make_bench: MakeBench, tmp_path: Path
) -> None:
    config = make_bench(slots=1).config
    local_hsm = config.issuer.local_hsm
    assert local_hsm is not None
    assert local_hsm.pin_file is not None
    open_pin = tmp_path / "open-pin"
    open_pin.write_bytes(local_hsm.pin_file.read_bytes())
    open_pin.chmod(0o644)
    issuer = config.issuer.model_copy(
        update={"local_hsm": local_hsm.model_copy(update={"pin_file": open_pin})}
    )
    app = console(config.model_copy(update={"issuer": issuer}))

    async def scenario() -> tuple[object, str]:
        async with app.run_test(size=(140, 30)) as pilot:
            await pilot.pause()
            app.screen.query_one("#badge", Input).value = "B0042"
            await pilot.press("enter", "enter")
            await until(pilot, lambda: "cannot open" in screen_text(app))
            return app.screen, screen_text(app)

    screen, text = asyncio.run(scenario())

    assert isinstance(screen, SignInScreen)
    assert app.shift is None
    assert "cannot open the station: issuing CA token PIN file" in text
    assert "(chmod" in text


def test_start_all_shows_a_pass_and_a_fail_with_its_reason(
    make_bench: MakeBench,
) -> None:
    app = console(make_bench(slots=2, misbehave=("2=rsa-key",)).config)

    text = run_all_and_read(app, SIZE)

    assert "PASS" in text
    assert "FAIL" in text
    assert "check CSR: CSR key is RSA, expected EC P-256" in text
    assert "AMB82D001002 ✘ FAIL at check CSR: CSR key is RSA" in text
    assert "passed 1  failed 1  yield 50.0%" in text
    assert journal_runs(app) == [
        ("slot-1", "AMB82D001001", RunStatus.PASS),
        ("slot-2", "AMB82D001002", RunStatus.FAIL),
    ]


def test_a_slot_whose_port_is_missing_fails_at_connect_and_is_counted(
    make_bench: MakeBench, tmp_path: Path
) -> None:
    config = make_bench(slots=1).config
    missing = SlotSection(name="slot-2", port=str(tmp_path / "no-such-port"))
    app = console(config.model_copy(update={"slots": [*config.slots, missing]}))

    text = run_all_and_read(app, SIZE)

    assert "✘ failed at connect" in text
    assert "reading identity" not in text
    assert "connect: no serial port at" in text
    assert "passed 1  failed 1  yield 50.0%" in text


def test_a_slot_whose_port_is_held_elsewhere_fails_at_connect_and_is_counted(
    make_bench: MakeBench,
) -> None:
    bench = make_bench(slots=1)
    app = console(bench.config)

    async def scenario() -> tuple[str, str]:
        async with app.run_test(size=SIZE) as pilot:
            screen = await sign_in(pilot)
            # Another program holds the port the way the station itself does.
            with open(bench.simulator.port(1).link, "rb") as held:
                fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
                await pilot.press("1")
                await finish_all(pilot)
            tile = screen.query_one(SlotGrid).tiles[0]
            return screen_text(app), tile.status.reason

    text, reason = asyncio.run(scenario())

    assert "✘ failed at connect" in text
    assert "is held by another process" in reason
    assert "passed 0  failed 1  yield 0.0%" in text


def test_the_rate_shows_once_a_module_has_finished(make_bench: MakeBench) -> None:
    clock = StageClock()
    app = ConsoleApp(
        make_bench(slots=1).config, monotonic=clock, wall_clock=fixed_wall_clock
    )

    async def scenario() -> tuple[str, str]:
        async with app.run_test(size=SIZE) as pilot:
            screen = await sign_in(pilot)
            before = screen_text(app)
            clock.workers += 30.0
            await pilot.press("1")
            await finish_all(pilot)
            # One module finished 36 s after the first one started: 100/h.
            clock.ui += 36.0
            screen.refresh_line()
            await pilot.pause()
            return before, screen_text(app)

    before, after = asyncio.run(scenario())

    assert "rate -" in before
    assert "rate 100/h" in after


def test_a_module_unplugged_mid_write_fails_then_passes_on_retry(
    make_bench: MakeBench,
) -> None:
    bench = make_bench(slots=1, misbehave=("1=unplug",))
    # The simulated module comes back 0.5 s after it vanishes; a station that
    # waits only 0.2 s for it fails the module, and the retry finishes it.
    link = bench.config.link.model_copy(update={"reopen_wait": 0.2})
    app = console(bench.config.model_copy(update={"link": link}))

    def replugged(port: PortInfo) -> bool:
        return Path(port.link).exists()

    async def scenario() -> list[SlotPhase]:
        async with app.run_test(size=SIZE) as pilot:
            screen = await sign_in(pilot)
            tile = screen.query_one(SlotGrid).tiles[0]
            await pilot.press("1")
            await finish_all(pilot)
            phases = [tile.status.phase]
            # The module comes back on a new pty under the same link.
            await until(pilot, lambda: replugged(bench.simulator.port(1)))
            await pilot.press("r")
            await finish_all(pilot)
            return [*phases, tile.status.phase]

    phases = asyncio.run(scenario())

    assert phases == [SlotPhase.FAIL, SlotPhase.PASS]
    assert [status for _, _, status in journal_runs(app)] == [
        RunStatus.FAIL,
        RunStatus.PASS,
    ]


def test_retry_leaves_a_slot_that_did_not_fail_alone(make_bench: MakeBench) -> None:
    app = console(make_bench(slots=2).config)

    async def scenario() -> str:
        async with app.run_test(size=SIZE) as pilot:
            await sign_in(pilot)
            await pilot.press("1")
            await finish_all(pilot)
            await pilot.press("r")
            await finish_all(pilot)
            return screen_text(app)

    text = asyncio.run(scenario())

    assert "slot-1 has no failed module to retry" in text
    assert len(journal_runs(app)) == 1


def test_a_number_key_starts_only_its_slot(make_bench: MakeBench) -> None:
    app = console(make_bench(slots=3).config)

    async def scenario() -> list[SlotPhase]:
        async with app.run_test(size=SIZE) as pilot:
            screen = await sign_in(pilot)
            await pilot.press("2")
            await finish_all(pilot)
            return [tile.status.phase for tile in screen.query_one(SlotGrid).tiles]

    phases = asyncio.run(scenario())

    assert phases == [SlotPhase.IDLE, SlotPhase.PASS, SlotPhase.IDLE]
    assert journal_runs(app) == [("slot-2", "AMB82D001002", RunStatus.PASS)]


def test_arrow_keys_and_s_start_the_selected_slot(make_bench: MakeBench) -> None:
    app = console(make_bench(slots=4).config)

    async def scenario() -> None:
        async with app.run_test(size=(60, 30)) as pilot:
            await sign_in(pilot)
            # Two columns fit in 60 cells: down from slot 1 is slot 3.
            await pilot.press("down", "s")
            await finish_all(pilot)

    asyncio.run(scenario())

    assert journal_runs(app) == [("slot-3", "AMB82D001003", RunStatus.PASS)]


def test_a_paused_line_starts_nothing_until_resumed(make_bench: MakeBench) -> None:
    app = console(make_bench(slots=1).config)

    async def scenario() -> tuple[str, int]:
        async with app.run_test(size=SIZE) as pilot:
            await sign_in(pilot)
            await pilot.press("p", "a")
            await pilot.pause()
            paused_text = screen_text(app)
            runs_while_paused = len(journal_runs(app))
            await pilot.press("p", "a")
            await finish_all(pilot)
            return paused_text, runs_while_paused

    paused_text, runs_while_paused = asyncio.run(scenario())

    assert "PAUSED" in paused_text
    assert "the line is paused (p resumes it)" in paused_text
    assert runs_while_paused == 0
    assert journal_runs(app) == [("slot-1", "AMB82D001001", RunStatus.PASS)]


def test_records_find_a_module_by_serial_and_by_mac(make_bench: MakeBench) -> None:
    app = console(make_bench(slots=1).config)

    async def scenario() -> tuple[str, str, str]:
        async with app.run_test(size=(120, 60)) as pilot:
            await sign_in(pilot)
            await pilot.press("a")
            await finish_all(pilot)
            await pilot.press("f")
            records = await until(
                pilot, lambda: isinstance(app.screen, RecordsScreen) and app.screen
            )
            found = []
            for query in ("AMB82D001001", "00E04C870001", "AMB82D009999"):
                records.query_one("#query", Input).value = query
                await pilot.press("enter")
                await pilot.pause()
                found.append(screen_text(app))
            return found[0], found[1], found[2]

    by_serial, by_mac, unknown = asyncio.run(scenario())

    with Journal(app.config.journal_path, station="reader") as journal:
        (run,) = journal.runs()
    assert run.cert_serial is not None
    for text in (by_serial, by_mac):
        assert "provisioning run 1" in text
        assert "✔ PASS" in text
        assert f"certificate  {run.cert_serial}" in text
        assert "CN=AMB82D001001,OU=AMB82,O=Example IoT" in text
        assert "notAfter     20" in text
        assert re.search(r"SHA-256      ([0-9a-f]{2}:){31}[0-9a-f]{2}", text)
        assert re.search(r"challenge +outcome +ok", text)
    assert "No module AMB82D009999 in this station's journal." in unknown


def test_records_show_a_clone_refused_and_flagged_for_qa(make_bench: MakeBench) -> None:
    app = console(make_bench(slots=2, misbehave=("2=clone-of:1",)).config)

    async def scenario() -> str:
        async with app.run_test(size=(120, 80)) as pilot:
            await sign_in(pilot)
            for key in "12":
                await pilot.press(key)
                await finish_all(pilot)
            await pilot.press("f")
            await pilot.pause()
            app.screen.query_one("#query", Input).value = "AMB82D001001"
            await pilot.press("enter")
            await pilot.pause()
            return screen_text(app)

    text = asyncio.run(scenario())

    assert "provisioning run 1   ✔ PASS" in text
    assert "provisioning run 2   ✘ FAIL" in text
    assert "failed at clone-check" in text
    assert "QA flags" in text
    assert re.search(r"run 2: .*AMB82D001001", text)


def test_qa_mode_reverifies_a_provisioned_module(make_bench: MakeBench) -> None:
    app = console(make_bench(slots=1).config)

    async def scenario() -> tuple[LineMode, str]:
        async with app.run_test(size=(120, 60)) as pilot:
            screen = await sign_in(pilot)
            await pilot.press("a")
            await finish_all(pilot)
            await pilot.press("v", "a")
            await finish_all(pilot)
            mode, line_text = screen.shift.line.mode, screen_text(app)
            await pilot.press("f")
            await pilot.pause()
            app.screen.query_one("#query", Input).value = "AMB82D001001"
            await pilot.press("enter")
            await pilot.pause()
            return mode, line_text + screen_text(app)

    mode, text = asyncio.run(scenario())

    assert mode is LineMode.QA
    assert "QA MODE" in text
    assert "QA: credential verified" in text
    assert "QA re-verification run 2" in text
    assert journal_runs(app)[-1] == ("slot-1", "AMB82D001001", RunStatus.PASS)


def test_qa_mode_waits_until_no_module_is_in_work(make_bench: MakeBench) -> None:
    app = console(make_bench(slots=1, keygen_delay=1.0).config)

    async def scenario() -> tuple[LineMode, str]:
        async with app.run_test(size=SIZE) as pilot:
            screen = await sign_in(pilot)
            await pilot.press("a", "v")
            mode, text = screen.shift.line.mode, screen_text(app)
            await finish_all(pilot)
            return mode, text

    mode, text = asyncio.run(scenario())

    assert mode is LineMode.PROVISION
    assert "QA re-verification mode waits until no module is in work" in text


def test_quit_asks_while_modules_are_in_work_and_waits_for_them(
    make_bench: MakeBench,
) -> None:
    app = console(make_bench(slots=2, keygen_delay=1.0).config)

    async def scenario() -> tuple[bool, bool, RunStatus]:
        async with app.run_test(size=SIZE) as pilot:
            screen = await sign_in(pilot)
            await pilot.press("a", "ctrl+q")
            asked = isinstance(app.screen, QuitScreen)
            await pilot.press("y")
            paused = screen.shift.line.paused
            await until(pilot, lambda: not app.is_running)
            return asked, paused, journal_runs(app)[-1][2]

    asked, paused, last = asyncio.run(scenario())

    assert asked
    assert paused
    assert last is RunStatus.PASS
    assert [status for _, _, status in journal_runs(app)] == [RunStatus.PASS] * 2


def test_the_quit_question_follows_the_modules_that_finish_while_it_is_open(
    make_bench: MakeBench,
) -> None:
    app = console(make_bench(slots=2, keygen_delay=1.0).config)

    async def scenario() -> tuple[str, str]:
        async with app.run_test(size=SIZE) as pilot:
            screen = await sign_in(pilot)
            await pilot.press("a", "ctrl+q")
            asked = screen_text(app)
            await until(pilot, lambda: not screen.busy_slots)
            await until(pilot, lambda: "No module is" in screen_text(app))
            answered = screen_text(app)
            await pilot.press("y")
            await until(pilot, lambda: not app.is_running)
            return asked, answered

    asked, answered = asyncio.run(scenario())

    assert "2 modules are in work (slot-1, slot-2)" in asked
    assert "No module is in work any more." in answered
    assert "y  quit now" in answered
    assert app.return_code == 0


def test_quit_on_an_idle_line_exits_at_once(make_bench: MakeBench) -> None:
    app = console(make_bench(slots=1).config)

    async def scenario() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await sign_in(pilot)
            await pilot.press("ctrl+q")
            await until(pilot, lambda: not app.is_running)

    asyncio.run(scenario())

    assert app.return_code == 0


def test_help_lists_a_key_for_every_action(make_bench: MakeBench) -> None:
    app = console(make_bench(slots=1).config)

    async def scenario() -> str:
        async with app.run_test(size=(80, 40)) as pilot:
            await sign_in(pilot)
            await pilot.press("question_mark")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            return screen_text(app)

    text = asyncio.run(scenario())

    for key, action in (
        ("a", "Start all"),
        ("s / ⏎", "Start slot"),
        ("1 … 9", "Start slot N"),
        ("r", "Retry"),
        ("p", "Pause"),
        ("v", "QA mode"),
        ("f", "Records"),
        ("←", "Previous slot"),
        ("? / f1", "Help"),
        ("^q", "Quit"),
    ):
        assert any(
            re.search(rf"┃ +{re.escape(key)} +{action} +┃", line)
            for line in text.splitlines()
        ), (key, action)


def test_the_log_keeps_the_console_off_the_terminal(tmp_path: Path) -> None:
    import logging

    from station.commands.console import log_to_file

    root = logging.getLogger()
    saved = list(root.handlers), root.level
    try:
        root.addHandler(logging.StreamHandler())
        path = log_to_file(tmp_path / "state" / "console.log")
        logging.getLogger("station.test").warning("slot %s: failed", "slot-1")
        streams = [h for h in root.handlers if type(h) is logging.StreamHandler]
    finally:
        for handler in list(root.handlers):
            if handler not in saved[0]:
                handler.close()
                root.removeHandler(handler)
        for handler in saved[0]:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(saved[1])

    assert streams == []
    assert "slot slot-1: failed" in path.read_text()

"""Pacing arithmetic of the simulated UART (no clock involved)."""

from __future__ import annotations

import pytest

from device_io.simulator.pacing import UartPacer


def test_a_byte_is_ten_bit_times() -> None:
    pacer = UartPacer(115200)

    assert pacer.byte_time == pytest.approx(10 / 115200)
    assert pacer.duration(11520) == pytest.approx(1.0)


def test_bytes_become_due_at_the_line_rate() -> None:
    pacer = UartPacer(9600)  # 960 bytes a second
    pacer.start(100.0)

    assert pacer.due(100.0) == 0
    assert pacer.due(100.0 + 0.5 / 960) == 0
    assert pacer.due(100.0 + 1 / 960) == 1
    assert pacer.due(100.5) == 480
    assert pacer.due(101.0) == 960


def test_released_bytes_are_not_due_again() -> None:
    pacer = UartPacer(9600)
    pacer.start(0.0)

    pacer.released(480)

    assert pacer.due(0.5) == 0
    assert pacer.due(0.75) == 240


def test_next_release_waits_for_a_whole_burst_or_the_last_bytes() -> None:
    pacer = UartPacer(115200)
    pacer.start(10.0)

    burst = pacer.burst

    assert burst == 57  # about 5 ms of bytes at 115200
    assert pacer.next_release(1000) == pytest.approx(10.0 + burst * 10 / 115200)
    assert pacer.next_release(3) == pytest.approx(10.0 + 3 * 10 / 115200)


def test_slow_line_releases_single_bytes() -> None:
    pacer = UartPacer(300)
    pacer.start(0.0)

    assert pacer.burst == 1
    assert pacer.next_release(50) == pytest.approx(10 / 300)


def test_restart_after_idle_counts_from_the_new_start() -> None:
    pacer = UartPacer(9600)
    pacer.start(0.0)
    pacer.released(pacer.due(1.0))

    pacer.start(5.0)

    assert pacer.due(5.0) == 0
    assert pacer.due(5.0 + 10 / 960) == 10


def test_zero_baud_is_refused() -> None:
    with pytest.raises(ValueError, match="baud"):
        UartPacer(0)

"""Clocks: ManualClock moves only when told, never backwards; HostClock is monotonic from about 0."""

import pytest

from devices.clock import HostClock, ManualClock


def test_manual_clock():
    clk = ManualClock(100)
    assert clk.now_ns() == 100
    assert clk.advance(50) == 150
    clk.set(1000)
    assert clk.now_ns() == 1000
    with pytest.raises(ValueError):
        clk.advance(-1)
    with pytest.raises(ValueError):
        clk.set(999)


def test_host_clock_is_monotonic_from_zero():
    clk = HostClock()
    a = clk.now_ns()
    b = clk.now_ns()
    assert 0 <= a <= b < 10_000_000_000

"""BuildPacer: tab builds across sessions take turns, each followed by time left to other work."""

import pytest

from brainmass_widgets._pacing import BuildPacer


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_a_build_on_a_quiet_server_starts_at_once():
    clock = Clock()
    pacer = BuildPacer(gap=0.25, estimate=0.3, clock=clock)
    assert pacer.book() == 0.0


def test_builds_booked_together_start_one_estimate_and_gap_apart():
    clock = Clock()
    pacer = BuildPacer(gap=0.25, estimate=0.3, clock=clock)
    waits = [pacer.book() for _ in range(4)]
    assert waits == pytest.approx([0.0, 0.55, 1.1, 1.65])


def test_the_estimate_follows_measured_builds_and_a_long_build_pushes_later_bookings():
    clock = Clock()
    pacer = BuildPacer(gap=0.25, estimate=0.3, clock=clock)
    assert pacer.book() == 0.0
    clock.now += 1.0  # the build held the loop for a second, far beyond its estimate
    pacer.done(1.0)
    assert pacer.estimate == pytest.approx(0.7 * 0.3 + 0.3 * 1.0)
    # the next build waits for the gap after the long build's end, not the estimate's
    assert pacer.book() == pytest.approx(0.25)
    assert pacer.book() == pytest.approx(0.25 + pacer.estimate + 0.25)


def test_after_a_quiet_spell_a_build_starts_at_once_again():
    clock = Clock()
    pacer = BuildPacer(gap=0.25, estimate=0.3, clock=clock)
    pacer.book()
    pacer.book()
    clock.now += 5.0
    assert pacer.book() == 0.0


@pytest.mark.parametrize("gap", [-1, 61, float("nan"), "1", True])
def test_a_gap_beyond_0_to_60_seconds_is_refused_naming_it(gap):
    with pytest.raises(ValueError, match=r"the gap after a tab build must be 0 to 60 seconds; got "):
        BuildPacer(gap=gap)
    pacer = BuildPacer()
    with pytest.raises(ValueError, match=repr(gap).replace("(", r"\(")):
        pacer.gap = gap
    assert pacer.gap == 0.5


def test_a_gap_of_zero_starts_every_build_at_once():
    clock = Clock()
    pacer = BuildPacer(gap=0, estimate=0.3, clock=clock)
    assert [pacer.book() for _ in range(3)] == [0.0, 0.0, 0.0]


def test_a_booking_that_would_wait_beyond_its_limit_is_refused_and_books_nothing():
    clock = Clock()
    pacer = BuildPacer(gap=0.25, estimate=0.3, clock=clock)
    assert [pacer.book(limit=1.0) for _ in range(3)] == pytest.approx([0.0, 0.55, None])
    # the refused booking took no turn: after the two booked, the next start is still 1.1 s away
    assert pacer.book() == pytest.approx(1.1)

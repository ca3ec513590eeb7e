import random

import pytest

from monitoring import certificate_watch


def stream_ever_breaks(rng, error_rate, audits=1500, every=25):
    """Audits arriving one by one, the watch looked at every `every` of them: does it ever break?"""
    wrong = 0
    for count in range(1, audits + 1):
        wrong += rng.random() < error_rate
        if count % every == 0 and certificate_watch.watch(count, wrong, 0.95, 0.99).broken:
            return True
    return False


def test_a_kept_promise_is_called_broken_in_at_most_5_percent_of_streams_however_often_it_is_watched():
    rng = random.Random(11)
    broken = sum(stream_ever_breaks(rng, 0.01) for _ in range(300))
    assert broken / 300 <= 0.05


def test_a_promise_broken_threefold_is_found_out_in_most_streams():
    rng = random.Random(12)
    broken = sum(stream_ever_breaks(rng, 0.03) for _ in range(100))
    assert broken / 100 >= 0.8


@pytest.mark.parametrize("checks, wrong, broken", [(0, 0, False), (50, 0, False), (50, 4, True), (400, 5, False),
                                                   (400, 14, True)])
def test_the_watch_allows_what_the_promise_allows(checks, wrong, broken):
    result = certificate_watch.watch(checks, wrong, 0.95, 0.99, since="2026-12-07T10:00:00+00:00")

    assert result.broken is broken
    assert (wrong > result.most_wrong_allowed) is broken
    assert f"found {wrong} wrong" in result.description()

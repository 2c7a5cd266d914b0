"""Interval and entropy formulas against known values."""
import math

import pytest

from robofail_ros.stats import entropy_nats, wilson_interval


def test_wilson_interval_matches_published_values():
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = wilson_interval(5, 10)
    assert (lo, hi) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    lo, hi = wilson_interval(10, 10)
    assert lo == pytest.approx(0.7225, abs=1e-4) and hi == 1.0


def test_wilson_interval_without_data_is_uninformative_and_rejects_impossible_counts():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError, match="failures must be in"):
        wilson_interval(11, 10)


def test_entropy_is_in_nats():
    assert entropy_nats([0.25] * 4) == pytest.approx(math.log(4))
    assert entropy_nats([1.0, 0.0]) == 0.0


def test_a_certain_distribution_has_zero_entropy_printed_without_a_minus_sign():
    import math

    from robofail_ros.stats import entropy_nats

    h = entropy_nats([1.0, 0.0, 0.0])
    assert h == 0.0 and math.copysign(1.0, h) == 1.0 and f"{h:.2f}" == "0.00"

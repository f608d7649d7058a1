"""Which ONNX Runtime thread counts are timed: 1-4, doublings, and the machine's own count."""

import pytest

from engine.ondevice.threads import candidate_threads


@pytest.mark.parametrize("cores,expected", [(1, [1]), (2, [1, 2]), (6, [1, 2, 3, 4, 6]), (16, [1, 2, 3, 4, 8, 16]),
                                            (24, [1, 2, 3, 4, 8, 16, 24])])
def test_candidate_threads(cores, expected):
    assert candidate_threads(cores) == expected

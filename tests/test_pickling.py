"""headwater.pickling: the cheap check a node's final state goes through before it leaves a
worker, and the message naming what does not pickle."""

from __future__ import annotations

import pickle
import threading

import numpy as np
import pytest

from headwater import pickling


class _Buffers:
    """Pickles to an out-of-band buffer under protocol 5."""

    def __init__(self) -> None:
        self.data = bytearray(1_000_000)

    def __reduce_ex__(self, protocol: object) -> tuple[object, ...]:
        return (bytearray, (pickle.PickleBuffer(self.data),))


def test_check_hands_large_buffers_out_of_band_and_copies_nothing_of_them() -> None:
    pickling.check({"array": np.zeros(1_000_000), "buffers": _Buffers()})
    # the same pickling as the check's: neither buffer is in what it makes
    seen: list[pickle.PickleBuffer] = []
    data = pickle.dumps(
        {"array": np.zeros(1_000_000), "buffers": _Buffers()},
        protocol=5,
        buffer_callback=seen.append,
    )
    assert len(data) < 10_000 and len(seen) == 2


def test_check_refuses_what_does_not_pickle_and_the_problem_is_named() -> None:
    value = {"lock": threading.Lock()}
    with pytest.raises(TypeError, match="lock"):
        pickling.check(value)
    problem = pickling.pickle_problem(value, "result")
    assert problem is not None and problem.startswith("result['lock'] (a lock)")

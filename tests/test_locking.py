"""One writer per dataset: a second run waits for the first, or gives up with a clear message."""

from __future__ import annotations

import threading
import time

import pytest

from customer_health.locking import dataset_lock
from customer_health.warehouse import WarehouseBusy


def test_a_second_writer_gives_up_with_a_clear_message(tmp_path):
    with dataset_lock(tmp_path, wait_seconds=0):
        with pytest.raises(WarehouseBusy, match="another customer-health run"):
            with dataset_lock(tmp_path, wait_seconds=0.3):
                pass


def test_a_second_writer_waits_for_its_turn(tmp_path):
    held = threading.Event()
    order = []

    def first():
        with dataset_lock(tmp_path, wait_seconds=0):
            held.set()
            time.sleep(0.6)
            order.append("first done")

    thread = threading.Thread(target=first)
    thread.start()
    held.wait(5)
    with dataset_lock(tmp_path, wait_seconds=10):
        order.append("second ran")
    thread.join()
    assert order == ["first done", "second ran"]

"""One writer per dataset: a second run waits for the first, or gives up with a clear message."""

from __future__ import annotations

import threading
import time

import pytest

from customer_health.locking import dataset_lock
from customer_health.warehouse import WarehouseBusy


def test_a_second_writer_gives_up_with_a_clear_message(tmp_path):
    errors = []

    def second():
        try:
            with dataset_lock(tmp_path, wait_seconds=0.3):
                pass
        except WarehouseBusy as exc:
            errors.append(str(exc))

    with dataset_lock(tmp_path, wait_seconds=0):
        thread = threading.Thread(target=second)
        thread.start()
        thread.join()
    assert len(errors) == 1 and "another customer-health run" in errors[0]


def test_a_step_made_of_steps_takes_the_lock_once_and_still_excludes_others(tmp_path):
    inside = []

    def other():
        with pytest.raises(WarehouseBusy):
            with dataset_lock(tmp_path, wait_seconds=0.2):
                pass
        inside.append("refused")

    with dataset_lock(tmp_path, wait_seconds=0):
        with dataset_lock(tmp_path, wait_seconds=0):  # retrain = features + score, one lock
            thread = threading.Thread(target=other)
            thread.start()
            thread.join()
        thread = threading.Thread(target=other)  # the outer step still holds it
        thread.start()
        thread.join()
    assert inside == ["refused", "refused"]
    with dataset_lock(tmp_path, wait_seconds=0):  # released at the end
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

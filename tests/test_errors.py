"""Errors: what a retry cannot fix fails at once; a busy warehouse is retried."""

import pytest

from customer_health.errors import fail_fast
from customer_health.pipeline import NoDataError
from customer_health.warehouse import WarehouseBusy


class Failed(Exception):
    pass


def test_permanent_errors_become_the_given_failure():
    with pytest.raises(Failed, match="nothing loaded"):
        with fail_fast(Failed):
            raise NoDataError("nothing loaded")


def test_a_busy_warehouse_stays_retryable():
    with pytest.raises(WarehouseBusy):
        with fail_fast(Failed):
            raise WarehouseBusy("held by another run")

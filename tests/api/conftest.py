import datetime as dt

import pytest
import time_machine
from django.utils import timezone


@pytest.fixture
def time_machine_now():
    """Move the clock forward by `seconds` (for expiry)."""
    travellers = []

    def move(seconds: int):
        traveller = time_machine.travel(timezone.now() + dt.timedelta(seconds=seconds), tick=True)
        traveller.start()
        travellers.append(traveller)

    yield move
    for traveller in reversed(travellers):
        traveller.stop()

"""Two writers at once, each in its own transaction and connection (PostgreSQL's row locks decide who waits)."""

import threading
import time
from collections.abc import Callable
from typing import Any

from django.db import connection, transaction

# Long enough for the second transaction to reach the locked row and wait on it before the first commits.
HOLD_SECONDS = 0.5


def first_then_second(first: Callable[[], Any], second: Callable[[], Any]) -> dict[str, Any]:
    """Run `first` in a transaction held open a moment after it is done, and `second` meanwhile; their outcomes:
    "kept", or the exception that ended it (any kind: a test says which it expects, and a 500's is one)."""
    done, outcomes = threading.Event(), {}

    def run(name: str, work: Callable[[], Any], *, hold: bool) -> None:
        try:
            if hold:
                with transaction.atomic():
                    work()
                    done.set()
                    time.sleep(HOLD_SECONDS)
            else:
                done.wait(timeout=30)
                work()
            outcomes[name] = "kept"
        except Exception as error:
            outcomes[name] = error
        finally:
            done.set()
            connection.close()

    threads = [threading.Thread(target=run, args=("first", first), kwargs={"hold": True}),
               threading.Thread(target=run, args=("second", second), kwargs={"hold": False})]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes

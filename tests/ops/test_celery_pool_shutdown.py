"""A worker's warm shutdown drains its pool processes' task queues quietly, even one left with a cut message."""

from types import SimpleNamespace

import pytest
from billiard.connection import Pipe
from celery.concurrency.asynpool import AsynPool

from config.celery import pool_shutdown_tolerates_cut_messages


@pytest.fixture
def draining_as_the_worker_does(monkeypatch):
    monkeypatch.setattr(AsynPool, "_help_stuff_finish", AsynPool.__dict__["_help_stuff_finish"])
    pool_shutdown_tolerates_cut_messages()  # what the worker_init signal runs in a worker


def _process_with_queue():
    reader, writer = Pipe(duplex=False)
    return SimpleNamespace(inq=SimpleNamespace(_reader=reader)), writer


def test_a_queue_left_with_a_cut_message_counts_as_drained(draining_as_the_worker_does):
    cut, cut_writer = _process_with_queue()
    cut_writer.send_bytes(b"")  # a message with nothing to unpickle: Celery 5.6 raised EOFError ("Ran out of input")
    cut_writer.close()
    left, left_writer = _process_with_queue()
    left_writer.send("a task nobody ran")
    AsynPool._help_stuff_finish([cut, left])
    assert not left.inq._reader.poll(0)  # the task left was taken off its queue

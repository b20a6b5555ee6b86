"""Primary keys handed out before their rows exist: each process takes a block from the table's
PostgreSQL sequence in one statement and gives its ids out one by one.

Why: a first ping must answer with a token naming its contact (and remember its session) without a
synchronous INSERT; the row itself is written later by the ingest buffer's flush, under the id
decided here. A sequence never hands out a value twice, so an id taken here can collide with no
row written directly; ids a process took but never used are gaps, as rolled-back inserts leave.
"""

import os
import threading

from django.db import connections, models, router

BLOCK_SIZE = 64

_lock = threading.Lock()
_blocks: dict[str, list[int]] = {}
_sequences: dict[str, str] = {}
_vendors: dict[str, str] = {}
_pid = os.getpid()


def id_blocks_supported(model: type[models.Model]) -> bool:
    """Ids can be taken ahead on this model's database (PostgreSQL: its sequence)."""
    alias = router.db_for_write(model)  # ids are taken from the primary's sequence, never a replica's
    if alias not in _vendors:  # a database's vendor is fixed for the process (every ping asks)
        _vendors[alias] = connections[alias].vendor
    return _vendors[alias] == "postgresql"


def next_id(model: type[models.Model], *, block_size: int = BLOCK_SIZE) -> int | None:
    """An unused primary key of `model` (None when its database has no sequence to take it from); `block_size`: how
    many a new block takes (one statement each)."""
    global _pid
    if not id_blocks_supported(model):
        return None
    table = model._meta.db_table
    with _lock:
        if os.getpid() != _pid:  # a forked child must not give out its parent's ids again
            _blocks.clear()
            _pid = os.getpid()
        block = _blocks.get(table)
        if not block:
            block = _blocks[table] = _take_block(model, block_size)
        return block.pop()


def _take_block(model: type[models.Model], block_size: int) -> list[int]:
    table = model._meta.db_table
    with connections[router.db_for_write(model)].cursor() as cursor:
        if table not in _sequences:
            cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, model._meta.pk.column])
            _sequences[table] = cursor.fetchone()[0]
        cursor.execute("SELECT nextval(%s) FROM generate_series(1, %s)", [_sequences[table], block_size])
        ids = [row[0] for row in cursor.fetchall()]
    ids.reverse()  # pop() gives the smallest first
    return ids


def id_blocks_forget() -> None:
    """Drop the ids this process holds (tests: a new database, or a sequence reset)."""
    with _lock:
        _blocks.clear()
        _sequences.clear()

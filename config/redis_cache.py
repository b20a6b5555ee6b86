"""Redis clients for hot paths: one redis.Redis per thread and pool, keeping its own connection.

Django's RedisCacheClient builds a new redis.Redis for every cache call, and each call then takes
a connection from the pool and gives it back. The constructor copies the response-callback table
(hundreds of entries); taking a connection polls its socket. Together that cost several times the
CPU of the round trip itself on the widget hot path. A client that keeps one connection
(single_connection_client) serialises its callers on a lock, hence one per thread; web threads are
long-lived, and a thread's connection goes back to the pool when the thread ends. A forked child
(Celery prefork) starts afresh rather than share its parent's socket.
"""

import os
import threading
from typing import Any

import redis
from django.core.cache.backends import redis as django_redis

_local = threading.local()


def thread_client(pool: redis.ConnectionPool) -> redis.Redis:
    """This thread's client over `pool` (it connects on first use: a down Redis raises here)."""
    local = _local.__dict__
    if local.get("pid") != os.getpid():
        local.update(pid=os.getpid(), clients={})
    client = local["clients"].get(id(pool))
    if client is None:
        client = local["clients"][id(pool)] = redis.Redis(connection_pool=pool, single_connection_client=True)
    return client


class _ThreadClients(django_redis.RedisCacheClient):
    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        return thread_client(self._get_connection_pool(write))


class RedisCache(django_redis.RedisCache):
    """Django's Redis cache backend, using thread_client."""

    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _ThreadClients

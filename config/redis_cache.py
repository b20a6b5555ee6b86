"""Django's Redis cache backend, with one redis.Redis client per thread holding its own connection.

Django's RedisCacheClient builds a new redis.Redis for every cache call, and each call then takes
a connection from the pool and gives it back. The constructor copies the response-callback table
(hundreds of entries); taking a connection polls its socket and records pool metrics. Together
that cost several times the CPU of the round trip itself on the widget hot path. A client that
keeps one connection (single_connection_client) is not thread-safe, hence one per thread; web
threads are long-lived, and a thread's connection goes back to the pool when the thread ends.
A forked child (Celery prefork) starts afresh rather than share its parent's socket.
"""

import os
import threading
from typing import Any

from django.core.cache.backends import redis as django_redis


class _ThreadClients(django_redis.RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._local = threading.local()

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        index = self._get_connection_pool_index(write)
        local = self._local.__dict__
        if local.get("pid") != os.getpid():
            local.update(pid=os.getpid(), clients={})
        client = local["clients"].get(index)
        if client is None:
            pool = self._get_connection_pool(write)
            client = local["clients"][index] = self._client(connection_pool=pool, single_connection_client=True)
        return client


class RedisCache(django_redis.RedisCache):
    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _ThreadClients

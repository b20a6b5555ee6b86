"""common.redis_cache.Script, run straight over a thread's own connection: the reply as redis-py gives it, the
script sent again after Redis forgot it, one retry on a new connection after Redis closed the old one, and
errors raised (a down Redis, a failing script) rather than swallowed. Against a private redis-server."""

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from common.redis_cache import Script, thread_client
from tests.faults.support import RedisServer

COUNT = Script("local n = redis.call('INCRBY', KEYS[1], ARGV[1]) return {n, redis.call('GET', KEYS[2]), false}")
FAILING = Script("return redis.error_reply('refused by the script')")


@pytest.fixture
def server():
    running = RedisServer().start()
    yield running
    running.close()


def _pool(server: RedisServer) -> redis.ConnectionPool:
    """As the page-view buffer's (and the cache's): a closed connection is retried once, at once."""
    return redis.ConnectionPool.from_url(
        server.url(),
        socket_timeout=1.0,
        socket_connect_timeout=0.5,
        retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
        retry_on_error=[redis.ConnectionError],
    )


def test_a_script_answers_as_redis_py_would(server):
    pool = _pool(server)
    client = thread_client(pool)
    client.set("name", "Ada")
    assert COUNT.run(client, ["counter", "name"], [5]) == [5, b"Ada", None]
    assert COUNT.run(client, ["counter", "missing"], [2]) == [7, None, None]
    # A client sharing the pool (not this thread's own connection) gets the same through redis-py's own way.
    assert COUNT.run(redis.Redis(connection_pool=pool), ["counter", "name"], [1]) == [8, b"Ada", None]


def test_a_script_redis_forgot_is_sent_again(server):
    client = thread_client(_pool(server))
    assert COUNT.run(client, ["counter", "name"], [1])[0] == 1
    client.script_flush()
    assert COUNT.run(client, ["counter", "name"], [1])[0] == 2
    assert client.script_exists(COUNT.sha) == [True]


def test_after_redis_restarted_the_next_run_reconnects_once(server):
    client = thread_client(_pool(server))
    assert COUNT.run(client, ["counter", "name"], [1])[0] == 1
    server.restart()  # the connection this thread kept is closed under it (and the restarted Redis is empty)
    assert COUNT.run(client, ["counter", "name"], [3])[0] == 3
    assert client.get("counter") == b"3"  # run once on the new connection, not twice


def test_a_down_redis_and_a_failing_script_raise(server):
    client = thread_client(_pool(server))
    with pytest.raises(redis.ResponseError, match="refused by the script"):
        FAILING.run(client, [], [])
    assert COUNT.run(client, ["counter", "name"], [1])[0] == 1  # the connection is still usable after the error
    server.stop()
    with pytest.raises(redis.ConnectionError):
        COUNT.run(client, ["counter", "name"], [1])

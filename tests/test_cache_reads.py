"""common.rate_limit.cached_values: the entries a Lua script read come back as the cache's own get would give."""

from django.core.cache.backends.redis import RedisCache

from common.rate_limit import cached_values


def test_entries_read_by_a_script_decode_as_the_cache_stored_them():
    backend = RedisCache("redis://127.0.0.1:6379/0", {})  # never connects: only its serializer is used
    serializer = backend._cache._serializer
    values = {
        "count": 7, "negative": -3, "huge": 10**30, "flag": True, "text": "1", "bytes": b"\x80\x05",
        "entry": {"contact": {"role": "visitor"}, "sessions": {"1": [13, 1.5, 1.5]}}, "none": None,
    }  # fmt: skip
    # What Redis hands back: an int as its digits (Django stores ints unpickled), anything else pickled.
    raw = [str(value).encode() if type(value) is int else serializer.dumps(value) for value in values.values()]
    assert cached_values(backend, list(values), raw) == values
    assert cached_values(backend, ["missing"], [None]) == {"missing": None}

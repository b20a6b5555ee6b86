"""How many round trips this process makes to Redis: each command, pipeline or script it sends is one."""

import redis

# What a new connection sends before its first command: once per connection, not per request. (A thread's first
# pipeline opens its second connection; which test comes first decides where that happens.)
_CONNECTION_SETUP = (b"CLIENT", b"SELECT", b"HELLO", b"AUTH")


class RedisRoundTrips:
    """Counts the commands (or pipelines, or scripts) this process sends to Redis from now on: each is one round
    trip."""

    def __init__(self, monkeypatch) -> None:
        self.count = 0
        self.commands: list[str] = []  # each round trip's first command (EVALSHA, GET…)
        send = redis.connection.AbstractConnection.send_packed_command

        def counted(connection, command, check_health=True):
            packed = b"".join(command) if isinstance(command, list | tuple) else command
            name = packed.split(b"\r\n", 3)[2].upper()
            if name not in _CONNECTION_SETUP:
                self.count += 1
                self.commands.append(name.decode())
            return send(connection, command, check_health)

        monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counted)

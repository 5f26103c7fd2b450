"""Commands packed ahead of time, sent on connections kept for them.

redis-py's ``execute_command`` packs every argument anew and takes a connection from the pool
for each command (a lock, a probe of the socket, metrics hooks) and gives it back: on a
reservation that was about as much client CPU as the round trip itself. A reservation is one
command whose bytes are mostly known in advance (``drux.state.reserve_lua``), so it is written
as it is on a connection taken from the client's pool once and kept for these commands (the
pool still owns it: closing the client closes it).

A connection that fails or is interrupted mid-command is disconnected by redis-py's
``read_response`` (so a reply still on its way is never read as the next command's) and
connects again on its next use. Errors are redis-py's own, raised after this one try (no
retries, no back-off): callers that want the client's retries send the command again through
the client (``drux.state.reserve`` does), so an outage is noticed as fast as before.
"""

from __future__ import annotations

import weakref
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

_idle: weakref.WeakKeyDictionary[Redis, list[AbstractConnection]] = weakref.WeakKeyDictionary()


async def _take(client: Redis) -> tuple[list[AbstractConnection], AbstractConnection]:
    idle = _idle.get(client)
    if idle is None:
        idle = _idle[client] = []
    conn = idle.pop() if idle else client.connection_pool.get_available_connection()
    if not conn.is_connected:
        try:
            # One try, without the client's retries: the caller falls back to the client,
            # whose retries then apply once (an outage is not waited out twice).
            await conn.connect_check_health(check_health=False, retry_socket_connect=False)
        except BaseException:
            idle.append(conn)  # kept for the next try: an outage does not pile them up
            if conn.is_connected:  # cut short mid-handshake (AUTH, SELECT): start afresh
                await conn.disconnect(nowait=True)
            raise
    return idle, conn


async def _write(conn: AbstractConnection, command: bytes) -> None:
    await conn.check_health()  # a PING first when the connection has been idle a while
    # Straight onto the connection's stream: ``send_packed_command`` wraps the write in
    # ``asyncio.wait_for`` (a task per command on Python 3.11, about 20 µs of CPU) to time out
    # a drain that a reply-less peer could block; a command of a few hundred bytes never fills
    # the buffer, and the reply's read that follows has the socket timeout. A write to a
    # connection the server closed is lost, and that read then fails (``ConnectionError``).
    writer = conn._writer
    if writer is None:
        raise RedisConnectionError("not connected")
    writer.write(command)


async def send_packed(client: Redis, command: bytes) -> Any:
    """Send ``command`` (complete RESP bytes) and return its reply, as redis-py parses it."""
    idle, conn = await _take(client)
    try:
        await _write(conn, command)
        return await conn.read_response()
    finally:
        idle.append(conn)


async def send_packed_many(client: Redis, commands: bytes, count: int) -> list[Any]:
    """``count`` commands written at once (one round trip, as a pipeline), their replies in
    order; an error reply takes its command's place instead of being raised."""
    idle, conn = await _take(client)
    try:
        await _write(conn, commands)
        replies: list[Any] = []
        for _ in range(count):
            try:
                replies.append(await conn.read_response())
            except ResponseError as err:  # the reply was read whole: the connection is fine
                replies.append(err)
        return replies
    finally:
        idle.append(conn)

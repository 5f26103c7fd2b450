"""Commands packed ahead of time, sent on connections kept for them.

redis-py's ``execute_command`` packs every argument anew and takes a connection from the pool
for each command (a lock, a probe of the socket, metrics hooks) and gives it back: on a
reservation that was about as much client CPU as the round trip itself. A reservation is one
command whose bytes are mostly known in advance (``drux.state.reserve_lua``), so it is written
as it is on a connection taken from the client's pool once and kept for these commands (the
pool still owns it: closing the client closes it).

A connection that fails or is interrupted mid-command is disconnected by redis-py itself (so a
reply still on its way is never read as the next command's) and connects again on its next use.
Errors are redis-py's own, raised after this one try: callers that want the client's retries
send the command again through the client (``drux.state.reserve`` does).
"""

from __future__ import annotations

import weakref
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection

_idle: weakref.WeakKeyDictionary[Redis, list[AbstractConnection]] = weakref.WeakKeyDictionary()


async def send_packed(client: Redis, command: bytes) -> Any:
    """Send ``command`` (complete RESP bytes) and return its reply, as redis-py parses it."""
    idle = _idle.get(client)
    if idle is None:
        idle = _idle[client] = []
    conn = idle.pop() if idle else await client.connection_pool.get_connection()
    try:
        await conn.send_packed_command(command)
        return await conn.read_response()
    finally:
        idle.append(conn)

"""Shared, hot state: one interface, an in-process implementation and a Redis one.

Without ``DRUX_REDIS_URL`` everything here lives in the process (the embedded default: no
service to start). With it, every worker on every host sees the same state. Callers depend on
the Protocols, never on which implementation they got, so the single process and the cluster
run the same code paths.

Modules, by concern:

- ``connection``  the Redis client (one per process and event loop), ``SharedStateError`` on
                  failure
- ``limits``      moving-window rate limits (the ``limits`` library: memory or Redis storage)
- ``reserve``     budgets and tokens per minute: reserve the most a call can cost, atomically,
                  settle the difference after it (``reserve_lua``: its Redis scripts and
                  their commands packed ahead of time; ``packed``: sending those; ``settling``:
                  settles in batches off the request path; ``lease``: quota leases, calls
                  at a key far from its limits admitted without a round trip)
- ``sessions``    web sign-in sessions: in the database, or in Redis (expiring by themselves)
- ``breakers``    circuit-breaker state shared by every worker (one half-open probe for all)
- ``events``      the live event log of each ask (Redis Streams; ids resume on any worker)
- ``jobs``        asks as jobs: in-process tasks, or SAQ on Redis run by ``drux worker``
- ``cluster``     worker heartbeats and what ``drux status`` shows of the cluster
"""

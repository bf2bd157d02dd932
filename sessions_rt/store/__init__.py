"""The live ride state in Redis. Only this package touches its keys: everything else calls
the functions of its modules (members, presence, positions, links, events, alerts, expiry).

Every function takes ids as UUIDs or strings, keyword-only options, and an optional Redis
``client`` (default: the "default" cache's). Each update is one Lua script run in one round
trip. The ride socket's hot paths have ``_async`` twins that run on the event loop with an
asyncio client. Redis being unreachable raises RealtimeUnavailable.
"""

"""The ride sockets open in this process, so a shutting-down server can close each one."""

import asyncio
import weakref

_OPEN: "weakref.WeakSet" = weakref.WeakSet()


def socket_opened(consumer) -> None:
    _OPEN.add(consumer)


def socket_closed(consumer) -> None:
    _OPEN.discard(consumer)


def open_socket_count() -> int:
    return len(_OPEN)


async def close_every_socket_for_shutdown(*, wait_seconds: float) -> None:
    """Close every socket with 1001 (server shutdown), then give phones ``wait_seconds`` to
    answer the close, so each rider shows as reconnecting (not gone) while the phone moves
    to another worker."""
    consumers = list(_OPEN)
    if not consumers:
        return
    await asyncio.gather(
        *(consumer.server_shutdown() for consumer in consumers), return_exceptions=True
    )
    deadline = asyncio.get_running_loop().time() + wait_seconds
    while _OPEN and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)

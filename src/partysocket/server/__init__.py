"""A local PartyKit-style room server, for development, demos and tests.

::

    from partysocket.server import RoomServer

    async with RoomServer(port=1999) as server:
        ...  # clients connect to ws://127.0.0.1:1999/parties/{party}/{room}?_pk={id}

From the command line: ``partysocket serve --port 1999``.
"""

from .room import RoomServer

__all__ = ["RoomServer"]

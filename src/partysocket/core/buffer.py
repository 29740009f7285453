"""The outgoing buffer: messages accepted while the socket is not OPEN."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["SendBuffer", "Message", "message_size"]

Message = str | bytes


def message_size(message: Message) -> int:
    """Bytes the message takes on the wire (UTF-8 for text)."""
    if isinstance(message, str):
        return len(message) if message.isascii() else len(message.encode("utf-8"))
    return len(message)


class SendBuffer:
    """An ordered, optionally bounded queue of outgoing messages.

    ``limit`` caps what :meth:`push` accepts (``math.inf`` for none); messages
    given back with :meth:`push_front` (accepted earlier, never written) are
    always kept, so the buffer may briefly exceed the limit rather than lose
    data the caller was told was sent.
    """

    __slots__ = ("_items", "_bytes", "limit", "overflowing")

    def __init__(self, limit: float) -> None:
        self._items: list[Message] = []  # a list, not a deque: 56 bytes while idle, not 760
        self._bytes = 0
        self.limit = limit
        #: True from the first dropped message until the buffer is emptied.
        self.overflowing = False

    def __len__(self) -> int:
        return len(self._items)

    @property
    def byte_size(self) -> int:
        """UTF-8 bytes of every buffered message."""
        return self._bytes

    def push(self, message: Message) -> bool:
        """Append ``message``; False (and nothing stored) when the buffer is full."""
        if len(self._items) >= self.limit:
            self.overflowing = True
            return False
        self._items.append(message)
        self._bytes += message_size(message)
        return True

    def push_front(self, messages: Iterable[Message]) -> None:
        """Put messages back at the front, keeping their order."""
        items = list(messages)
        self._items[:0] = items
        self._bytes += sum(message_size(m) for m in items)

    def take_all(self) -> list[Message]:
        """Remove and return everything, oldest first; ends an overflow episode."""
        items, self._items = self._items, []
        self._bytes = 0
        self.overflowing = False
        return items

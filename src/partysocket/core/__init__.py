"""The pure, I/O-free core: options, backoff, buffer, URL rules and the state machine.

Nothing in this package imports ``asyncio``, ``threading``, ``socket``, ``time``
or ``random``; drivers pass the clock and the random source in.
"""

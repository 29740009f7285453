"""Benchmarks: partysocket against other WebSocket clients, side by side (``python -m bench``)."""

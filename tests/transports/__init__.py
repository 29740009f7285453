"""Tests of the optional transports."""

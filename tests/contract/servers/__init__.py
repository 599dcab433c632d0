"""Loopback servers that speak the channels' real HTTP contracts, for the adapter contract tests."""

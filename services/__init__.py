"""The edges of Agent Console, in plain asyncio with no Qt: channel adapters, sync, the outbox,
importers, secrets and metrics."""

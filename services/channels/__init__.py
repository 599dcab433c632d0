"""Channel adapters: one per channel kind, all behind :class:`services.channels.base.ChannelAdapter`."""

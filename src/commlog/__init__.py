"""commlog: a log of every notification a system sends, which is also the queue that delivers it."""

__version__ = "0.1.0"

"""SQS at a fleet's scale: moto 5.2.5 scans every message of a queue on every attribute read.

moto's `Queue.attributes` computes all of a queue's attributes whenever one is read, and three of
them (ApproximateNumberOfMessages, ...Delayed, ...NotVisible) walk every message in the queue. moto
reads an attribute on every SendMessage (ContentBasedDeduplication) and once per message returned by
ReceiveMessage (MessageRetentionPeriod), so sending or receiving costs time in proportion to the
queue's length: onboarding 10,000 drivers (each with a decision event on the dispatch subscriber's
queue, and a review request for some) slowed down quadratically, past an hour. AWS's cost per
message does not grow with the queue. Upstream fix: compute the message counts only when they are
asked for (or keep them as counters).
"""
from collections.abc import Mapping

MESSAGE_COUNTS = {"ApproximateNumberOfMessages": "approximate_number_of_messages",
                  "ApproximateNumberOfMessagesDelayed": "approximate_number_of_messages_delayed",
                  "ApproximateNumberOfMessagesNotVisible": "approximate_number_of_messages_not_visible"}


class _WithoutMessageCounts:
    """A queue whose message counts read as None, so moto's own attribute code runs without scanning."""

    def __init__(self, queue):
        self._queue = queue

    def __getattr__(self, name):
        if name in MESSAGE_COUNTS.values():
            return None
        return getattr(self._queue, name)


class CountedWhenRead(Mapping):
    """A queue's attributes exactly as moto gives them, except that each message count is computed
    when it is read (GetQueueAttributes asking for it, or for All), not on every attribute read."""

    def __init__(self, queue, attributes: dict):
        self._queue, self._attributes = queue, attributes

    def __getitem__(self, name):
        if name in MESSAGE_COUNTS and name in self._attributes:
            return getattr(self._queue, MESSAGE_COUNTS[name])
        return self._attributes[name]

    def __iter__(self):
        return iter(self._attributes)

    def __len__(self) -> int:
        return len(self._attributes)


def attributes_counted_when_read(attributes: property) -> property:
    """Queue.attributes with its message counts computed only when read."""
    def read(queue) -> Mapping:
        return CountedWhenRead(queue, attributes.fget(_WithoutMessageCounts(queue)))
    return property(read)

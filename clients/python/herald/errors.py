"""Exceptions raised by the Herald client.

Every error answer of the gateway is JSON ``{"error": "...", "code": "..."}``; the client
turns it into an :class:`APIError` (or its subclass :class:`Unavailable` for 503) that carries
the HTTP status and Herald's machine-readable ``code`` (``invalid_topic``, ``topic_closed``,
``token_required``, ``engine_unavailable``, ...).
"""

__all__ = ["HeraldError", "APIError", "Unavailable", "TransportError"]


class HeraldError(Exception):
    """Base class of every error the client raises."""


class APIError(HeraldError):
    """An error answer of the gateway (HTTP status 400 or more).

    Attributes:
        status: the HTTP status code, e.g. 409.
        code: Herald's error code, e.g. ``"topic_closed"``; ``""`` when the body was not
            Herald's error JSON (a proxy's answer, say).
        message: the human-readable message (or the start of a non-JSON body).
        ids: for a batch, the ids of the events published before the failing one.
    """

    def __init__(self, status, code, message, ids=None):
        self.status = status
        self.code = code
        self.message = message
        self.ids = list(ids or [])
        text = "herald: %d" % status
        if code:
            text += " (%s)" % code
        if message:
            text += ": " + message
        super().__init__(text)


class Unavailable(APIError):
    """503: the gateway could not publish (its engine is down, or it is shutting down).

    Nothing was published, so the client retries these with back-off; this is raised once
    the retries are used up.
    """


class TransportError(HeraldError):
    """The request did not get an HTTP answer (connection refused, reset, timed out).

    A timeout or reset after the request was sent may leave the event published, so these
    are not retried, except a refused connection (nothing was sent).
    """

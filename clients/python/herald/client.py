"""The publisher: ``Herald(url).publish(topic, data)`` posts to the gateway's /v1/publish."""

import asyncio
import datetime
import json
import logging
import random
import time
import urllib.error
import urllib.parse
import urllib.request

from .errors import APIError, HeraldError, TransportError, Unavailable

__all__ = ["Herald", "RawJSON", "DEFAULT_RETRIES", "DEFAULT_BACKOFF", "DEFAULT_MAX_BACKOFF",
           "DEFAULT_TIMEOUT"]

log = logging.getLogger("herald")

#: How many times a publish answered 503 (or refused) is tried again.
DEFAULT_RETRIES = 4
#: The first back-off delay in seconds; it doubles on every retry (with jitter).
DEFAULT_BACKOFF = 0.1
#: The longest back-off delay in seconds, also the cap on a Retry-After header.
DEFAULT_MAX_BACKOFF = 2.0
#: Seconds a request may take.
DEFAULT_TIMEOUT = 10.0

#: The header carrying the send time (Unix nanoseconds) for Herald's latency metric.
SENT_TIME_HEADER = "X-Herald-Sent-Time"

_MAX_ANSWER = 4 << 20


class RawJSON:
    """Data that is already JSON text, sent as the JSON value it holds.

    ``publish("t", "{\\"a\\":1}")`` sends the *string* (subscribers receive those bytes as
    text, which is the same thing for a browser); ``RawJSON`` says so explicitly and checks
    the text is valid JSON before anything is sent.
    """

    __slots__ = ("text",)

    def __init__(self, text):
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        json.loads(text)  # raises ValueError on bad JSON
        self.text = text


class _Raw(str):
    """A JSON fragment that _encode_event inserts verbatim."""


def _data_value(data):
    """Returns the JSON text of the data field: str/bytes as a JSON string (text), RawJSON
    as its text, None as null, anything else through json.dumps."""
    if isinstance(data, RawJSON):
        return data.text
    if isinstance(data, bytes):
        data = data.decode("utf-8")
    try:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise HeraldError("herald: data is not JSON-serialisable: %s" % exc) from exc


def _sent_time_value(sent_time):
    """Unix time in nanoseconds from an int (ms, µs or ns as Herald tells them apart), a
    float (seconds, as time.time() gives) or an aware datetime."""
    if isinstance(sent_time, datetime.datetime):
        if sent_time.tzinfo is None:
            raise HeraldError("herald: sent_time datetime must be timezone-aware")
        return int(sent_time.timestamp() * 1e9)
    if isinstance(sent_time, bool):
        raise HeraldError("herald: sent_time must be a number or a datetime")
    if isinstance(sent_time, float):
        return int(sent_time * 1e9)
    if isinstance(sent_time, int):
        return sent_time
    raise HeraldError("herald: sent_time must be a number or a datetime")


def _encode_event(topic, data, event=None, final=False, sent_time=None):
    if not isinstance(topic, str) or not topic:
        raise HeraldError("herald: topic must be a non-empty string")
    if event is not None and not isinstance(event, str):
        raise HeraldError("herald: event must be a string")
    parts = ['"topic":' + json.dumps(topic)]
    if event:
        parts.append('"event":' + json.dumps(event))
    parts.append('"data":' + _data_value(data))
    if final:
        parts.append('"final":true')
    if sent_time is not None:
        parts.append('"sent_time":%d' % _sent_time_value(sent_time))
    return "{" + ",".join(parts) + "}"


class Herald:
    """A publisher for the Herald gateway at ``url`` (e.g. ``"http://127.0.0.1:8080"``).

    ``api_key`` or ``token`` (a publisher JWT) is sent as ``Authorization: Bearer``; give at
    most one. Without either, Herald accepts publishes from loopback clients only, and only
    when it runs without credentials (development mode).

    A publish answered 503 (the engine is down, or the gateway is shutting down: nothing was
    published) or whose connection was refused is tried again up to ``retries`` times,
    waiting ``backoff`` seconds doubled at each attempt (with jitter, at most
    ``max_backoff``, and at least the answer's Retry-After up to ``max_backoff``).
    ``on_retry(attempt, delay, error)`` is called before each wait; retries are also logged
    on the ``herald`` logger at WARNING. Other errors are raised at once.

    An instance holds no connection and is safe to share between threads.
    """

    def __init__(self, url, api_key=None, token=None, *, timeout=DEFAULT_TIMEOUT,
                 retries=DEFAULT_RETRIES, backoff=DEFAULT_BACKOFF,
                 max_backoff=DEFAULT_MAX_BACKOFF, on_retry=None):
        if api_key and token:
            raise ValueError("give api_key or token, not both")
        parsed = urllib.parse.urlsplit(url or "")
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError("url must be http(s)://host[:port][/prefix], got %r" % (url,))
        self.url = url.rstrip("/")
        self._endpoint = self.url + "/v1/publish"
        self._credential = api_key or token
        self.timeout = timeout
        self.retries = max(0, int(retries))
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.on_retry = on_retry

    def __repr__(self):
        return "Herald(%r)" % self.url

    def publish(self, topic, data=None, event=None, final=False, sent_time=None):
        """Publishes one event and returns the id Herald assigned to it.

        ``data`` is a str (sent as text: subscribers receive exactly it), bytes (UTF-8
        text), :class:`RawJSON`, None (empty data), or any value ``json.dumps`` takes
        (subscribers receive the compact JSON). ``event`` names the SSE event (None: a
        plain "message"). ``final=True`` closes the topic: subscribers get the event and
        their stream ends. ``sent_time`` overrides the send time for the latency metric.

        Raises APIError (with ``.code``) for an error answer, Unavailable once 503 retries
        are used up, TransportError when no answer came.
        """
        body = _encode_event(topic, data, event, final, sent_time)
        answer = self._post(body)
        ident = answer.get("id") if isinstance(answer, dict) else None
        if not isinstance(ident, str) or not ident:
            raise HeraldError("herald: publish answer has no id: %r" % (answer,))
        return ident

    def publish_batch(self, events):
        """Publishes events in order in one request and returns their ids in that order.

        Each event is a dict with the keys of :meth:`publish` (``topic`` required; ``data``,
        ``event``, ``final``, ``sent_time`` optional). Herald stops at the first event it
        cannot publish and answers an error; APIError.ids then lists the ids of the events
        published before it.
        """
        events = list(events)
        if not events:
            return []
        parts = []
        for i, ev in enumerate(events):
            if not isinstance(ev, dict):
                raise HeraldError("herald: events[%d] must be a dict" % i)
            unknown = set(ev) - {"topic", "data", "event", "final", "sent_time"}
            if unknown:
                raise HeraldError("herald: events[%d]: unknown keys %s" % (i, sorted(unknown)))
            try:
                parts.append(_encode_event(ev.get("topic"), ev.get("data"), ev.get("event"),
                                           ev.get("final", False), ev.get("sent_time")))
            except HeraldError as exc:
                raise HeraldError("herald: events[%d]: %s" % (i, exc)) from exc
        answer = self._post('{"events":[' + ",".join(parts) + "]}")
        ids = answer.get("ids") if isinstance(answer, dict) else None
        if not isinstance(ids, list) or len(ids) != len(events):
            raise HeraldError("herald: publish answer has %s ids for %d events"
                              % (len(ids) if isinstance(ids, list) else "no", len(events)))
        return ids

    async def apublish(self, topic, data=None, event=None, final=False, sent_time=None):
        """:meth:`publish` for asyncio code: runs it in a worker thread."""
        return await asyncio.to_thread(self.publish, topic, data, event, final, sent_time)

    async def apublish_batch(self, events):
        """:meth:`publish_batch` for asyncio code: runs it in a worker thread."""
        return await asyncio.to_thread(self.publish_batch, events)

    def _post(self, body):
        payload = body.encode("utf-8")
        attempt = 0
        while True:
            try:
                return self._post_once(payload)
            except (Unavailable, _Refused) as exc:
                if attempt >= self.retries:
                    if isinstance(exc, _Refused):
                        raise TransportError("herald: publish: %s" % exc.reason) from exc.reason
                    raise
                attempt += 1
                delay = self._delay(attempt, getattr(exc, "retry_after", None))
                err = exc.reason if isinstance(exc, _Refused) else exc
                log.warning("herald: publish attempt %d failed (%s); retrying in %.2fs",
                            attempt, err, delay)
                if self.on_retry is not None:
                    self.on_retry(attempt, delay, err)
                time.sleep(delay)

    def _delay(self, attempt, retry_after):
        delay = min(self.max_backoff, self.backoff * (2 ** (attempt - 1)))
        delay *= 0.5 + random.random() / 2  # jitter, so publishers do not retry in step
        if retry_after:
            delay = max(delay, min(retry_after, self.max_backoff))
        return delay

    def _post_once(self, payload):
        req = urllib.request.Request(self._endpoint, data=payload, method="POST")
        req.add_header("Content-Type", "application/json")
        req.add_header("Accept", "application/json")
        req.add_header(SENT_TIME_HEADER, str(time.time_ns()))
        if self._credential:
            req.add_header("Authorization", "Bearer " + self._credential)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read(_MAX_ANSWER)
        except urllib.error.HTTPError as exc:
            with exc:
                raise _api_error(exc.code, exc.read(64 << 10), exc.headers) from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, ConnectionRefusedError):
                raise _Refused(exc.reason) from None
            raise TransportError("herald: publish: %s" % exc.reason) from exc
        except OSError as exc:  # timeouts and resets while reading the answer
            raise TransportError("herald: publish: %s" % exc) from exc
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise HeraldError("herald: publish answer is not JSON: %r" % raw[:200]) from exc


class _Refused(Exception):
    """A refused connection: nothing was sent, so it may be retried."""

    def __init__(self, reason):
        super().__init__(str(reason))
        self.reason = reason


def _api_error(status, body, headers):
    code, message, ids = "", "", None
    try:
        obj = json.loads(body)
        if isinstance(obj, dict):
            code = str(obj.get("code") or "")
            message = str(obj.get("error") or "")
            ids = obj.get("ids")
    except ValueError:
        pass
    if not code and not message:
        message = body.decode("utf-8", "replace").strip()[:200]
    cls = Unavailable if status == 503 else APIError
    err = cls(status, code, message, ids if isinstance(ids, list) else None)
    retry_after = headers.get("Retry-After") if headers is not None else None
    try:
        err.retry_after = float(retry_after) if retry_after else None
    except ValueError:
        err.retry_after = None
    return err

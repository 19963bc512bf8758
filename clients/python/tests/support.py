"""Shared helpers of the tests: the gateway the Go test wrapper started, and an SSE reader.

The tests run against a real Herald gateway. clients/python/python_test.go starts it and
passes its address in HERALD_TEST_URL (and the publisher key in HERALD_TEST_API_KEY); run
them with `go test ./clients/python/`. Without the variables they fail: they do not skip.
"""

import os
import urllib.parse
import urllib.request
import uuid


def env(name):
    value = os.environ.get(name)
    if not value:
        raise AssertionError(
            "%s is not set: run these tests through `go test ./clients/python/`, which "
            "starts the Herald gateway they talk to" % name)
    return value


def unique_topic(namespace="pytest"):
    return "%s:%s" % (namespace, uuid.uuid4().hex)


def read_stream(base_url, topics, timeout=10.0, last_event_id="earliest"):
    """Reads /v1/events for topics until the gateway ends the stream (all topics closed by
    a final event) and returns the events as dicts {id, event, data}."""
    query = [("topic", t) for t in topics] + [("lastEventID", last_event_id)]
    url = base_url.rstrip("/") + "/v1/events?" + urllib.parse.urlencode(query)
    events, cur = [], {"data": []}
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        if resp.status == 204:
            return events
        for raw in resp:
            line = raw.decode("utf-8").rstrip("\r\n")
            if line == "":
                if cur["data"]:
                    events.append({"id": cur.get("id"), "event": cur.get("event", "message"),
                                   "data": "\n".join(cur["data"])})
                cur = {"data": []}
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "data":
                cur["data"].append(value)
            elif field in ("id", "event"):
                cur[field] = value
    return events

"""Tests of herald.Herald against a real gateway (see support.py)."""

import asyncio
import datetime
import json
import socket
import unittest
import urllib.request

from herald import APIError, Herald, HeraldError, RawJSON, TransportError, Unavailable

from .support import env, read_stream, unique_topic


class PublishTest(unittest.TestCase):
    def setUp(self):
        self.url = env("HERALD_TEST_URL")
        self.herald = Herald(self.url, api_key=env("HERALD_TEST_API_KEY"))

    def test_data_kinds_arrive_as_published(self):
        topic = unique_topic()
        cases = [
            # (data, what a subscriber reads)
            ("plain text", "plain text"),
            ("two\nlines", "two\nlines"),
            (b"bytes are text", "bytes are text"),
            ({"step": "vision", "progress": 33}, '{"step":"vision","progress":33}'),
            ([1, 2.5, None, True], "[1,2.5,null,true]"),
            ({"k": "한국어"}, '{"k":"한국어"}'),
            (RawJSON('{ "raw" : [1, 2] }'), '{"raw":[1,2]}'),
            (42, "42"),
        ]
        ids = []
        for data, _ in cases:
            ids.append(self.herald.publish(topic, data, event="kind"))
        ids.append(self.herald.publish(topic, "done", event="end", final=True))
        self.assertEqual(len(set(ids)), len(ids), "ids must be distinct")
        got = read_stream(self.url, [topic])
        self.assertEqual([e["data"] for e in got], [want for _, want in cases] + ["done"])
        self.assertEqual([e["id"] for e in got], ids)
        self.assertEqual(got[0]["event"], "kind")
        self.assertEqual(got[-1]["event"], "end")

    def test_no_event_name_is_a_message(self):
        topic = unique_topic()
        self.herald.publish(topic, {"a": 1}, final=True)
        got = read_stream(self.url, [topic])
        self.assertEqual([(e["event"], e["data"]) for e in got], [("message", '{"a":1}')])

    def test_batch_returns_ids_in_order(self):
        topic = unique_topic()
        ids = self.herald.publish_batch([
            {"topic": topic, "data": {"n": 1}, "event": "n"},
            {"topic": topic, "data": {"n": 2}, "event": "n", "sent_time": 1700000000000},
            {"topic": topic, "data": "last", "final": True},
        ])
        self.assertEqual(len(ids), 3)
        got = read_stream(self.url, [topic])
        self.assertEqual([e["id"] for e in got], ids)
        self.assertEqual([e["data"] for e in got], ['{"n":1}', '{"n":2}', "last"])
        self.assertEqual(self.herald.publish_batch([]), [])

    def test_batch_error_lists_published_ids(self):
        topic = unique_topic()
        with self.assertRaises(APIError) as cm:
            self.herald.publish_batch([
                {"topic": topic, "data": 1, "final": True},
                {"topic": topic, "data": 2},  # the topic is closed by now
            ])
        self.assertEqual((cm.exception.status, cm.exception.code), (409, "topic_closed"))
        self.assertEqual(len(cm.exception.ids), 1)

    def test_sent_time_kinds(self):
        topic = unique_topic()
        now = datetime.datetime.now(datetime.timezone.utc)
        for sent in (now, 1700000000.5, 1700000000000, 1700000000000000000):
            self.assertTrue(self.herald.publish(topic, "x", sent_time=sent))

    def test_error_answers_carry_the_code(self):
        closed = unique_topic()
        self.herald.publish(closed, "bye", final=True)
        h = self.herald
        wrong = Herald(self.url, api_key="not-a-key")
        cases = [
            ("bad topic", lambda: h.publish("no spaces allowed", 1), 400, "invalid_topic"),
            ("bad event", lambda: h.publish(unique_topic(), 1, event="a\nb"), 400,
             "invalid_event"),
            ("reserved", lambda: self.herald.publish("herald:stats", 1), 403, "reserved_topic"),
            ("closed", lambda: self.herald.publish(closed, 1), 409, "topic_closed"),
            ("no key", lambda: Herald(self.url).publish(unique_topic(), 1), 401, "token_required"),
            ("wrong key", lambda: wrong.publish(unique_topic(), 1), 401, "token_invalid"),
            ("too large", lambda: h.publish(unique_topic(), "x" * (70 << 10)), 413, "too_large"),
        ]
        for name, call, status, code in cases:
            with self.subTest(name):
                with self.assertRaises(APIError) as cm:
                    call()
                self.assertNotIsInstance(cm.exception, Unavailable)
                got = (cm.exception.status, cm.exception.code)
                self.assertEqual(got, (status, code), str(cm.exception))
                self.assertIn(code, str(cm.exception))
                self.assertTrue(cm.exception.message)

    def test_bad_input_is_refused_before_sending(self):
        cases = [
            ("set data", lambda: self.herald.publish(unique_topic(), {1, 2})),
            ("nan data", lambda: self.herald.publish(unique_topic(), float("nan"))),
            ("empty topic", lambda: self.herald.publish("", 1)),
            ("topic type", lambda: self.herald.publish(None, 1)),
            ("event type", lambda: self.herald.publish(unique_topic(), 1, event=5)),
            ("naive datetime", lambda: self.herald.publish(
                unique_topic(), 1, sent_time=datetime.datetime.now())),
            ("batch item", lambda: self.herald.publish_batch(["not a dict"])),
            ("batch key", lambda: self.herald.publish_batch([{"topic": "t:1", "colour": 1}])),
        ]
        for name, call in cases:
            with self.subTest(name):
                self.assertRaises(HeraldError, call)
        self.assertRaises(ValueError, RawJSON, "{not json")
        self.assertRaises(ValueError, Herald, "ftp://x")
        self.assertRaises(ValueError, Herald, self.url, api_key="k", token="t")

    def test_asyncio_variants(self):
        topic = unique_topic()

        async def main():
            first = await self.herald.apublish(topic, {"n": 1})
            rest = await self.herald.apublish_batch([{"topic": topic, "data": 2, "final": True}])
            return [first] + rest

        ids = asyncio.run(main())
        got = read_stream(self.url, [topic])
        self.assertEqual([e["id"] for e in got], ids)


class RetryTest(unittest.TestCase):
    def test_refused_connection_is_retried_then_raised(self):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()  # nothing listens there now
        attempts = []
        h = Herald("http://127.0.0.1:%d" % port, retries=2, backoff=0.001,
                   on_retry=lambda attempt, delay, err: attempts.append(attempt))
        with self.assertLogs("herald", "WARNING"):
            with self.assertRaises(TransportError):
                h.publish("t:1", 1)
        self.assertEqual(attempts, [1, 2])

    def test_engine_down_is_retried_until_it_is_back(self):
        """The gateway at HERALD_TEST_REDIS_URL runs the Redis engine, whose redis-server the
        Go wrapper has stopped: every publish is answered 503 engine_unavailable. A POST to
        HERALD_TEST_CONTROL_URL/redis/start starts it again."""
        url = env("HERALD_TEST_REDIS_URL")
        key = env("HERALD_TEST_API_KEY")
        topic = unique_topic()

        attempts = []
        h = Herald(url, api_key=key, retries=2, backoff=0.001,
                   on_retry=lambda attempt, delay, err: attempts.append(err.code))
        with self.assertLogs("herald", "WARNING"):
            with self.assertRaises(Unavailable) as cm:
                h.publish(topic, "lost?")
        self.assertEqual((cm.exception.status, cm.exception.code), (503, "engine_unavailable"))
        self.assertEqual(attempts, ["engine_unavailable"] * 2)

        restarted = []

        def on_retry(attempt, delay, err):
            if not restarted:  # bring Redis back while the client waits
                control = env("HERALD_TEST_CONTROL_URL")
                req = urllib.request.Request(control + "/redis/start", method="POST")
                with urllib.request.urlopen(req, timeout=15) as resp:
                    restarted.append(resp.status)

        h = Herald(url, api_key=key, retries=20, backoff=0.01, max_backoff=0.2, on_retry=on_retry)
        with self.assertLogs("herald", "WARNING"):
            ident = h.publish(topic, "after the restart", final=True)
        self.assertEqual(restarted, [200])
        got = read_stream(url, [topic])
        self.assertEqual([(e["id"], e["data"]) for e in got], [(ident, "after the restart")])


if __name__ == "__main__":
    unittest.main()

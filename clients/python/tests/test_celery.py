"""Unit tests of herald.celery's bookkeeping (the worker end to end is in celery_test.go)."""

import types
import unittest

from celery import Celery, signals

import herald.celery as hc


def request(**kw):
    base = dict(id="t1", root_id=None, parent_id=None, chain=None, callbacks=None, chord=None)
    base.update(kw)
    return types.SimpleNamespace(**base)


class PositionTest(unittest.TestCase):
    def test_position(self):
        cases = [
            ("root of a chain of four", request(chain=[{}, {}, {}]), (1, 4)),
            ("root alone", request(), (1, 1)),
            ("root with its own root_id", request(root_id="t1", chain=[{}]), (1, 2)),
            ("headers win",
             request(root_id="r", parent_id="p", herald_position=3, herald_steps=4), (3, 4)),
            ("child without headers", request(root_id="r", parent_id="p"), (None, None)),
            ("malformed headers",
             request(root_id="r", parent_id="p", herald_position="3", herald_steps=4),
             (None, None)),
        ]
        for name, req, want in cases:
            with self.subTest(name):
                self.assertEqual(hc._position(req), want)

    def test_is_last(self):
        cases = [
            ("end of chain", request(), True),
            ("chain follows", request(chain=[{}]), False),
            ("link follows", request(callbacks=[{}]), False),
            ("chord header member", request(chord={"task": "body"}), False),
        ]
        for name, req, want in cases:
            with self.subTest(name):
                self.assertEqual(hc._is_last(req), want)


class SummaryTest(unittest.TestCase):
    def test_default_summary(self):
        small = {"label": "can", "score": 0.9}
        self.assertEqual(hc.default_summary(small), small)
        self.assertIsNone(hc.default_summary(None))
        big = hc.default_summary("x" * 5000)
        self.assertEqual(big["type"], "str")
        self.assertLess(len(big["repr"]), 100)
        odd = hc.default_summary({1, 2})
        self.assertEqual(odd, {"type": "set", "repr": "{1, 2}"})


class InstallTest(unittest.TestCase):
    def test_install_connects_and_uninstall_disconnects(self):
        app = Celery("install-test", set_as_current=False)
        before = {s: len(s.receivers) for s in (signals.task_prerun, signals.before_task_publish)}
        integ = hc.install(app, object())
        self.assertIs(hc._integrations.get(app), integ)
        for s, n in before.items():
            self.assertEqual(len(s.receivers), n + 1)
        integ.uninstall()
        self.assertIsNone(hc._integrations.get(app))
        for s, n in before.items():
            self.assertEqual(len(s.receivers), n)

    def test_progress_outside_a_task_is_none(self):
        self.assertIsNone(hc.progress(50, note="no task"))


if __name__ == "__main__":
    unittest.main()

"""Zero-code Celery integration: every task of a workflow publishes its progress to Herald.

    from herald import Herald
    import herald.celery

    app = Celery("scan", broker="redis://...")
    herald.celery.install(app, Herald("http://herald:8080", api_key="..."),
                          topic="scan:{root_id}")

The tasks stay as they are. The integration connects Celery's signals:

* ``task_prerun``: the task publishes ``state: "started"``;
* the task's success: ``state: "succeeded"`` with a summary of its result — published
  before Celery sends the workflow's next task (from ``before_task_publish``), so the
  events of a chain are in order even when the next task runs at once on another worker;
  the last task's success event carries ``final: true``, which ends every subscriber's
  stream and closes the topic;
* ``task_failure``: ``state: "failed"`` with the error, ``final: true`` (Celery stops a
  chain at a failed task);
* a retry: ``state: "retrying"`` with the reason when known (the exception being handled
  when ``task.retry()`` is called), published before Celery sends the new run (from
  ``before_task_publish``, else from ``task_retry``); the new run publishes again.

Each event goes to ``topic.format(root_id=..., name=..., step=...)`` where ``root_id`` is the
id of the workflow's first task (``request.root_id``): the id the API server gives the
browser. Its event name is ``event.format(name=..., step=...)`` (``name`` the task's full
name, ``step`` its last dotted part); ``event=None`` sends unnamed ("message") events. Its
data is JSON::

    {"step": "vision", "task": "scan.vision", "task_id": "...", "state": "succeeded",
     "position": 1, "steps": 4, "progress": 25, "result": ...}

(and ``"final": true`` in the event that ends the workflow).

``position``/``steps`` count the tasks of the chain: the root task knows the chain's length
(1 + the signatures still in ``request.chain``), and each task sends its position on to the
next in the message headers ``herald_position``/``herald_steps`` (``before_task_publish``).
``progress`` is the workflow's percentage: ``(position - 1) / steps`` when a task starts,
``position / steps`` when it succeeded.

**Which task is the last one.** A task is the last of its workflow when it succeeded and
Celery has nothing left to send after it: its request has no ``chain`` (the signatures that
follow it in a chain), no ``callbacks`` (``link=`` signatures) and no ``chord`` (it is not a
chord header member, whose chord body follows). Tested end to end for chains; for links and
chords it follows from Celery's design (the chord body is last). A plain ``group`` (no chord)
has no single last task: each member ends its own branch and none publishes ``final``;
publish the end yourself (or make it a chord). Start a workflow with one task: Celery gives
a top-level group or chord no common root id (each member is its own root and topic).

A task adds its own progress with ``herald.celery.progress(percent, **fields)``.

Publishing never fails a task: a Herald error is logged on the ``herald.celery`` logger.
"""

import json
import logging
import reprlib
import sys
import weakref

from celery import current_task, signals
from celery.states import SUCCESS

from .errors import HeraldError

__all__ = ["install", "progress", "Integration", "default_summary"]

log = logging.getLogger("herald.celery")

POSITION_HEADER = "herald_position"
STEPS_HEADER = "herald_steps"

_MAX_SUMMARY = 1024

# The integration installed for each Celery app, for progress(); keyed weakly so that an
# app and its integration can be collected together.
_integrations = weakref.WeakKeyDictionary()


def default_summary(result):
    """Returns a JSON-able summary of a task's result: the result itself when it is JSON
    of at most 1 KiB, else ``{"type": ..., "repr": ...}`` (reprlib-shortened)."""
    try:
        text = json.dumps(result, allow_nan=False)
    except (TypeError, ValueError):
        text = None
    if text is not None and len(text) <= _MAX_SUMMARY:
        return result
    return {"type": type(result).__name__, "repr": reprlib.repr(result)}


def install(app, herald, topic="scan:{root_id}", event="{name}", summary=default_summary):
    """Connects ``app``'s tasks to ``herald`` (a :class:`herald.Herald`) and returns the
    :class:`Integration` (call ``.uninstall()`` to disconnect).

    Call it where the app is defined, so that the worker (and, harmlessly, the API server
    that starts workflows) runs it. ``summary(result)`` turns a task's return value into the
    event's ``result`` field.
    """
    integration = Integration(app, herald, topic, event, summary)
    integration.connect()
    return integration


def progress(percent, **fields):
    """Publishes the running task's own progress, ``percent`` (0-100) of this task.

    The event's ``progress`` is scaled into the workflow (a task at position 2 of 4 at
    50 % gives 37.5 %), ``task_progress`` holds ``percent``, and ``fields`` are added to the
    data. Returns the event id, or None outside a task of an app with the integration
    installed or when publishing failed (logged).
    """
    task = current_task._get_current_object() if current_task else None
    if task is None:
        return None
    integration = _integrations.get(task.app)
    if integration is None:
        return None
    return integration.task_progress(task, percent, fields)


def _position(request):
    """Returns (position, steps) of the task of request in its chain, or (None, None)."""
    position = getattr(request, POSITION_HEADER, None)
    steps = getattr(request, STEPS_HEADER, None)
    if isinstance(position, int) and isinstance(steps, int):
        return position, steps
    if request.root_id in (None, request.id) and not request.parent_id:
        return 1, 1 + len(request.chain or ())
    return None, None


def _short(name):
    return name.rsplit(".", 1)[-1]


def _is_last(request):
    return not request.chain and not request.callbacks and not request.chord


class Integration:
    """The signal handlers of one installed app. Use :func:`install` to make one."""

    def __init__(self, app, herald, topic, event, summary):
        self.app = app
        self.herald = herald
        self.topic = topic
        self.event = event
        self.summary = summary or default_summary
        self._handlers = [
            (signals.before_task_publish, self._before_publish),
            (signals.task_prerun, self._prerun),
            (signals.task_postrun, self._postrun),
            (signals.task_failure, self._failure),
            (signals.task_retry, self._retry),
        ]

    def connect(self):
        for signal, handler in self._handlers:
            signal.connect(handler, weak=False)
        _integrations[self.app] = self

    def uninstall(self):
        """Disconnects the signal handlers."""
        for signal, handler in self._handlers:
            signal.disconnect(handler)
        if _integrations.get(self.app) is self:
            del _integrations[self.app]

    # --- the events

    def _mine(self, task):
        return task is not None and getattr(task, "app", None) is self.app

    def _publish(self, task, state, fields, final=False, pct=None):
        request = task.request
        root_id = request.root_id or request.id
        position, steps = _position(request)
        data = {
            "step": _short(task.name),
            "task": task.name,
            "task_id": request.id,
            "state": state,
        }
        if position is not None:
            data["position"] = position
            data["steps"] = steps
            if pct is not None:
                data["progress"] = round(100.0 * pct(position, steps), 2)
        data.update(fields)
        if final:
            data["final"] = True  # the stream ends after this event
        names = {"root_id": root_id, "name": task.name, "step": _short(task.name)}
        try:
            return self.herald.publish(
                self.topic.format(**names), data,
                event=self.event.format(**names) if self.event else None, final=final)
        except (HeraldError, ValueError, KeyError) as exc:
            log.warning("herald.celery: %s %s (%s): publish failed: %s",
                        task.name, state, request.id, exc)
            return None

    def task_progress(self, task, percent, fields):
        """Publishes a task's own progress; see :func:`progress`."""
        frac = max(0.0, min(100.0, float(percent))) / 100.0
        fields = dict(fields, task_progress=percent)
        return self._publish(task, "progress", fields,
                             pct=lambda p, n: (p - 1 + frac) / n)

    def _succeeded(self, task, result, has_result, final):
        request = task.request
        if getattr(request, "herald_succeeded", False):
            return
        request.herald_succeeded = True
        fields = {"result": self.summary(result)} if has_result else {}
        self._publish(task, "succeeded", fields, final=final, pct=lambda p, n: p / n)

    # --- the signal handlers

    def _before_publish(self, sender=None, body=None, headers=None, **_):
        if headers is None or POSITION_HEADER in headers:
            return
        embed = body[2] if isinstance(body, (tuple, list)) and len(body) == 3 else {}
        chain = (embed or {}).get("chain") or ()
        parent = self.app.current_worker_task
        if parent is None or not self._mine(parent):
            is_root = headers.get("root_id") in (None, headers.get("id"))
            if is_root and not headers.get("parent_id"):
                headers[POSITION_HEADER] = 1  # the first task of a workflow
                headers[STEPS_HEADER] = 1 + len(chain)
            return
        preq = parent.request
        position, steps = _position(preq)
        if headers.get("id") == preq.id:  # a retry sends the same task again
            if position is not None:
                headers[POSITION_HEADER], headers[STEPS_HEADER] = position, steps
            # Publish "retrying" now: the new run may start on another worker before
            # Celery sends task_retry here.
            self._retrying(parent, sys.exc_info()[1])
            return
        if headers.get("parent_id") != preq.id:
            return
        # A continuation (the chain's next task, a link, a group member): the parent has
        # succeeded. Publish that now, before the next task can start anywhere.
        nxt = getattr(preq, "herald_next", None)
        args = body[0] if isinstance(body, (tuple, list)) and body else ()
        has_result = bool(nxt) and not nxt.get("immutable") and bool(args) \
            and nxt.get("task") == headers.get("task")
        self._succeeded(parent, args[0] if has_result else None, has_result, final=False)
        if position is not None:
            headers[POSITION_HEADER] = position + 1
            headers[STEPS_HEADER] = position + 1 + len(chain)

    def _prerun(self, sender=None, task=None, **_):
        task = task or sender
        if not self._mine(task):
            return
        request = task.request
        # Snapshots taken before Celery pops request.chain when it sends the next task:
        # whether this task is the workflow's last, and the signature sent after it (to
        # know whether it receives this task's result, see _before_publish).
        request.herald_last = _is_last(request)
        position, steps = _position(request)
        if position is not None:  # pin the count of the root task, whose chain shrinks
            setattr(request, POSITION_HEADER, position)
            setattr(request, STEPS_HEADER, steps)
        if request.chain:
            request.herald_next = request.chain[-1]  # Celery keeps a chain reversed
        elif request.callbacks and len(request.callbacks) == 1:
            request.herald_next = request.callbacks[0]
        else:
            request.herald_next = None
        request.herald_succeeded = False
        self._publish(task, "started", {}, pct=lambda p, n: (p - 1) / n)

    def _postrun(self, sender=None, task=None, retval=None, state=None, **_):
        task = task or sender
        if not self._mine(task) or state != SUCCESS:
            return
        self._succeeded(task, retval, True, final=getattr(task.request, "herald_last", False))

    def _failure(self, sender=None, exception=None, **_):
        if not self._mine(sender):
            return
        error = "%s: %s" % (type(exception).__name__, exception)
        self._publish(sender, "failed", {"error": reprlib.repr(error)[:500]}, final=True)

    def _retry(self, sender=None, reason=None, **_):
        if self._mine(sender):
            self._retrying(sender, reason)

    def _retrying(self, task, reason):
        request = task.request
        if getattr(request, "herald_retrying", False):
            return
        request.herald_retrying = True
        fields = {"retries": (request.retries or 0) + 1}
        if reason is not None:
            fields["reason"] = reprlib.repr(str(reason))[:500]
        self._publish(task, "retrying", fields)

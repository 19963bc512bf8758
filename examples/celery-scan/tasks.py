"""The scan pipeline: four Celery tasks, vision -> rule -> answer -> reward.

The tasks contain no code for the progress stream: ``herald.celery.install`` below makes
every task publish its progress to ``scan:<root id>``, and the last one ends the stream.

Environment: BROKER_URL (default redis://127.0.0.1:6379/0), HERALD_URL (default
http://127.0.0.1:8080), HERALD_API_KEY, SCAN_STEP_SECONDS (simulated work per step,
default 1).
"""

import os
import sys
import time

try:
    import herald  # noqa: F401  (installed, or on PYTHONPATH)
except ImportError:  # running from Herald's repository
    HERE = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(HERE, "..", "..", "clients", "python"))

from celery import Celery, chain

import herald.celery
from herald import Herald

STEP_SECONDS = float(os.environ.get("SCAN_STEP_SECONDS", "1"))

app = Celery("scan", broker=os.environ.get("BROKER_URL", "redis://127.0.0.1:6379/0"))
app.conf.update(task_ignore_result=True, broker_connection_retry_on_startup=True)

herald.celery.install(
    app,
    Herald(os.environ.get("HERALD_URL", "http://127.0.0.1:8080"),
           api_key=os.environ.get("HERALD_API_KEY")),
    topic="scan:{root_id}",
)


@app.task(name="scan.vision")
def vision(image):
    for percent in (30, 60):
        time.sleep(STEP_SECONDS / 3)
        herald.celery.progress(percent, detail="looking at the picture")
    time.sleep(STEP_SECONDS / 3)
    return {"category": "plastic", "item": "PET bottle", "image": image}


@app.task(name="scan.rule")
def rule(seen):
    time.sleep(STEP_SECONDS / 10)
    return {"rule": "remove the label, rinse, squash", "item": seen["item"]}


@app.task(name="scan.answer")
def answer(found):
    time.sleep(STEP_SECONDS)
    return {"answer": "%s: %s" % (found["item"], found["rule"])}


@app.task(name="scan.reward")
def reward(result):
    time.sleep(STEP_SECONDS / 10)
    return {"points": 10, "answer": result["answer"]}


def start_scan(image):
    """Starts the chain and returns its root id: the id the API gives the browser, and the
    topic ``scan:<root id>`` the tasks publish to."""
    result = chain(vision.s(image), rule.s(), answer.s(), reward.s()).apply_async()
    while result.parent is not None:  # apply_async returns the last task's result
        result = result.parent
    return result.id

"""The scan pipeline of the Celery end-to-end test (celery_test.go): four plain tasks,
vision -> rule -> answer -> reward, with no Herald code in them except one progress() call.

Environment: BROKER_URL (redis://...), HERALD_URL, HERALD_API_KEY.
"""

import os

import redis
from celery import Celery, chain

import herald.celery
from herald import Herald

app = Celery("scanapp", broker=os.environ["BROKER_URL"])
app.conf.update(
    task_ignore_result=True,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
)
integration = herald.celery.install(
    app, Herald(os.environ["HERALD_URL"], api_key=os.environ["HERALD_API_KEY"]),
    topic="scan:{root_id}")

_gates = redis.Redis.from_url(os.environ["BROKER_URL"])


@app.task(name="scan.vision")
def vision(image):
    return {"label": "can", "image": image}


@app.task(name="scan.rule", bind=True, max_retries=1, default_retry_delay=0)
def rule(self, seen, gate=None, retry_once=False, fail=False):
    if gate and self.request.retries == 0:  # held until the test's subscriber is connected
        if _gates.blpop(gate, timeout=30) is None:
            raise RuntimeError("gate %s was never opened" % gate)
    if retry_once and self.request.retries == 0:
        try:
            raise ConnectionError("rule service busy")
        except ConnectionError as exc:
            raise self.retry(exc=exc)
    if fail:
        raise ValueError("no rule for %s" % seen["label"])
    return {"rule": "recycle-" + seen["label"]}


@app.task(name="scan.answer")
def answer(rules):
    herald.celery.progress(50, note="asking the model")
    return {"answer": "rinse it, then the blue bin", "rule": rules["rule"]}


@app.task(name="scan.reward")
def reward(result):
    return {"points": 10}


def start(image, **rule_options):
    """Starts the chain and returns the workflow's root id, the id the API answers."""
    res = chain(vision.s(image), rule.s(**rule_options), answer.s(), reward.s()).apply_async()
    while res.parent is not None:
        res = res.parent
    return res.id

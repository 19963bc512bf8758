"""Herald's Python publisher (standard library only, Python 3.9+).

    from herald import Herald
    h = Herald("http://127.0.0.1:8080", api_key="...")
    event_id = h.publish("scan:abc", {"step": "vision", "progress": 33}, event="progress")

``herald.celery`` connects Celery's signals so that every task of a workflow publishes its
progress to the workflow's topic without code in the tasks (see README.md).
"""

from .client import Herald, RawJSON
from .errors import APIError, HeraldError, TransportError, Unavailable

__all__ = ["Herald", "RawJSON", "HeraldError", "APIError", "Unavailable", "TransportError"]
__version__ = "0.1.0"

"""The Python example of docs/outbox.md, run by outbox/examples_test.go.

Usage: python3 raffle.py DSN RAFFLE_ID USER_ID [--fail]
"""
import sys

import psycopg
from psycopg.types.json import Jsonb


def enter_raffle(dsn: str, raffle_id: int, user_id: int) -> None:
    with psycopg.connect(dsn) as conn:
        with conn.transaction():          # commits at the end, rolls back on an exception
            conn.execute("INSERT INTO entries (raffle_id, user_id) VALUES (%s, %s)",
                         (raffle_id, user_id))
            (entries,) = conn.execute("SELECT count(*) FROM entries WHERE raffle_id = %s",
                                      (raffle_id,)).fetchone()
            conn.execute("INSERT INTO herald_outbox (topic, event, data) VALUES (%s, %s, %s)",
                         (f"raffle:{raffle_id}", "odds",
                          Jsonb({"entries": entries, "odds": 1 / entries})))


class Failed(Exception):
    """Raised after the inserts, inside the transaction, to show a rollback."""


def enter_raffle_and_fail(dsn: str, raffle_id: int, user_id: int) -> None:
    with psycopg.connect(dsn) as conn:
        try:
            with conn.transaction():
                conn.execute("INSERT INTO entries (raffle_id, user_id) VALUES (%s, %s)",
                             (raffle_id, user_id))
                conn.execute("INSERT INTO herald_outbox (topic, event, data) VALUES (%s, %s, %s)",
                             (f"raffle:{raffle_id}", "odds", Jsonb({"entries": -1})))
                raise Failed()
        except Failed:
            pass


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[3:] == ["--fail"]:
        enter_raffle_and_fail(args[0], int(args[1]), int(args[2]))
    else:
        enter_raffle(args[0], int(args[1]), int(args[2]))

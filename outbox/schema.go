package outbox

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/heraldpush/herald/bridge"
)

// schemaSQL creates the outbox table, its dead-letter table and the partial index that the
// keep mode reads through. Every statement is idempotent; {t} is the table name.
const schemaSQL = `
CREATE TABLE IF NOT EXISTS {t} (
    id           bigserial PRIMARY KEY,
    topic        text NOT NULL,
    event        text,
    data         jsonb NOT NULL,
    final        bool NOT NULL DEFAULT false,
    dedup_key    text,
    created_at   timestamptz DEFAULT now(),
    delivered_at timestamptz
);
ALTER TABLE {t} ADD COLUMN IF NOT EXISTS delivered_at timestamptz;
CREATE INDEX IF NOT EXISTS {t}_undelivered ON {t} (id) WHERE delivered_at IS NULL;
CREATE TABLE IF NOT EXISTS {t}_dead (
    id         bigint NOT NULL,
    topic      text,
    event      text,
    data       jsonb,
    final      bool,
    dedup_key  text,
    created_at timestamptz,
    error      text NOT NULL,
    failed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS {t}_dead_id ON {t}_dead (id);
`

// notifySQL creates the trigger that NOTIFYs the channel named like the table after every
// insert statement (one notification per statement; PostgreSQL sends it at commit, never
// for a rolled-back transaction).
const notifySQL = `
CREATE OR REPLACE FUNCTION {t}_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{t}', '');
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS {t}_notify ON {t};
CREATE TRIGGER {t}_notify AFTER INSERT ON {t} FOR EACH STATEMENT EXECUTE FUNCTION {t}_notify();
`

// dropNotifySQL removes the trigger and its function.
const dropNotifySQL = `
DROP TRIGGER IF EXISTS {t}_notify ON {t};
DROP FUNCTION IF EXISTS {t}_notify();
`

// SchemaSQL returns the statements Init runs for table, for review or for a migration tool.
// table must pass bridge.CheckOutboxTable.
func SchemaSQL(table string, notify bool) string {
	s := schemaSQL
	if notify {
		s += notifySQL
	}
	return strings.TrimSpace(strings.ReplaceAll(s, "{t}", table)) + "\n"
}

// Init creates the outbox table, <table>_dead and, when notify is set, the NOTIFY trigger
// (when it is not, an existing trigger is dropped), in one transaction. It is idempotent:
// existing tables are kept (a missing delivered_at column is added). Herald never runs it
// implicitly; `herald outbox init` does.
func Init(ctx context.Context, conn *pgx.Conn, table string, notify bool) error {
	if err := bridge.CheckOutboxTable(table); err != nil {
		return err
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("outbox init: %w", err)
	}
	defer tx.Rollback(ctx)
	// Serialize concurrent inits (CREATE … IF NOT EXISTS races otherwise); the key differs
	// from the relays' session lock, so a running relay does not block an init.
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey(table)^1); err != nil {
		return fmt.Errorf("outbox init: lock: %w", err)
	}
	script := strings.ReplaceAll(schemaSQL, "{t}", table)
	if notify {
		script += strings.ReplaceAll(notifySQL, "{t}", table)
	} else {
		script += strings.ReplaceAll(dropNotifySQL, "{t}", table)
	}
	if _, err := tx.Exec(ctx, script); err != nil {
		return fmt.Errorf("outbox init %s: %w", table, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("outbox init %s: commit: %w", table, err)
	}
	return nil
}

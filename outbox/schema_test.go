package outbox

import (
	"strings"
	"testing"

	"github.com/heraldpush/herald/internal/testserver"
)

// TestInitIsIdempotent: Init creates the tables and the trigger, may run again, and with
// notify off removes the trigger but keeps the tables and their rows.
func TestInitIsIdempotent(t *testing.T) {
	t.Parallel()
	srv := testserver.Postgres(t)
	db := connect(t, srv.DSN())
	trigger := func() int {
		return count(t, db, `SELECT count(*) FROM pg_trigger WHERE tgname = $1`, table+"_notify")
	}
	for range 2 {
		if err := Init(t.Context(), db, table, true); err != nil {
			t.Fatal(err)
		}
	}
	if n := trigger(); n != 1 {
		t.Fatalf("%d triggers; want 1", n)
	}
	insert(t, db, false, [3]string{"a:1", "", `{}`})
	if err := Init(t.Context(), db, table, false); err != nil {
		t.Fatal(err)
	}
	if n := trigger(); n != 0 {
		t.Errorf("%d triggers after notify off; want 0", n)
	}
	if n := count(t, db, "SELECT count(*) FROM "+table); n != 1 {
		t.Errorf("%d rows after a second init; want the 1 kept", n)
	}
	if n := count(t, db, "SELECT count(*) FROM "+table+"_dead"); n != 0 {
		t.Errorf("dead table has %d rows", n)
	}
	if err := Init(t.Context(), db, "x; drop table y", true); err == nil {
		t.Error("Init accepted a table name that needs quoting")
	}
	if s := SchemaSQL("events", true); !strings.Contains(s, "CREATE TABLE IF NOT EXISTS events_dead") || !strings.Contains(s, "pg_notify('events'") {
		t.Errorf("SchemaSQL:\n%s", s)
	}
}

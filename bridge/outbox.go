package bridge

import (
	"fmt"
	"time"
)

// Defaults of an outbox rule's settings.
const (
	// DefaultOutboxTable is the outbox table an outbox rule reads when Table is empty.
	DefaultOutboxTable = "herald_outbox"
	// DefaultOutboxPoll is how often the outbox is read when no NOTIFY arrives.
	DefaultOutboxPoll = 250 * time.Millisecond
	// DefaultOutboxBatch is the most rows read and published in one round.
	DefaultOutboxBatch = 500
)

// maxOutboxTableLen leaves room for the "_dead" suffix within PostgreSQL's 63-byte names.
const maxOutboxTableLen = 63 - len("_dead")

// OutboxSource is the setting of an outbox rule: a PostgreSQL table that applications insert
// events into inside their own transactions (the transactional outbox). Engines do not serve
// it; package outbox does, on every engine:
//
//	bridge:
//	  - outbox: {dsn: "postgres://herald@db/app", table: herald_outbox, poll: 250ms, batch: 500}
//
// Each row names its topic, event, data and final flag itself, so an outbox rule has no
// pattern, topic template or field settings.
type OutboxSource struct {
	// DSN is the PostgreSQL connection string (URL or key=value form, as pgx parses it).
	// Empty means the environment's HERALD_OUTBOX_DSN, which the command line fills in.
	DSN string `yaml:"dsn,omitempty" json:"dsn,omitempty"`
	// Table is the outbox table, an unquoted lower-case identifier; DefaultOutboxTable when
	// empty. Rows that cannot be delivered move to Table + "_dead".
	Table string `yaml:"table,omitempty" json:"table,omitempty"`
	// Poll is the polling interval, the safety net behind LISTEN/NOTIFY; DefaultOutboxPoll
	// when zero.
	Poll time.Duration `yaml:"poll,omitempty" json:"poll,omitempty"`
	// Batch is the most rows one round reads; DefaultOutboxBatch when zero.
	Batch int `yaml:"batch,omitempty" json:"batch,omitempty"`
	// Keep marks delivered rows (delivered_at) instead of deleting them.
	Keep bool `yaml:"keep,omitempty" json:"keep,omitempty"`
}

// WithDefaults returns s with the zero settings replaced by their defaults.
func (s OutboxSource) WithDefaults() OutboxSource {
	if s.Table == "" {
		s.Table = DefaultOutboxTable
	}
	if s.Poll == 0 {
		s.Poll = DefaultOutboxPoll
	}
	if s.Batch == 0 {
		s.Batch = DefaultOutboxBatch
	}
	return s
}

// Check validates the settings after defaults: a table name that needs no quoting, a
// positive poll interval and batch size. The DSN is not checked here (it may come from the
// environment later); the outbox package parses it.
func (s OutboxSource) Check() error {
	s = s.WithDefaults()
	if err := CheckOutboxTable(s.Table); err != nil {
		return err
	}
	if s.Poll < 0 {
		return fmt.Errorf("outbox: poll %v: want a positive duration", s.Poll)
	}
	if s.Batch < 0 || s.Batch > 10000 {
		return fmt.Errorf("outbox: batch %d: want 1–10000", s.Batch)
	}
	return nil
}

// CheckOutboxTable validates an outbox table name: 1–58 bytes of a–z, 0–9 and '_', not
// starting with a digit, so it is used in SQL and as the NOTIFY channel without quoting.
func CheckOutboxTable(name string) error {
	if name == "" || len(name) > maxOutboxTableLen {
		return fmt.Errorf("outbox: table %q: want 1–%d bytes", name, maxOutboxTableLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '_' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return fmt.Errorf("outbox: table %q: use lower-case letters, digits and '_' (no digit first)", name)
	}
	return nil
}

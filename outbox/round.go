package outbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldpush/herald"
)

// errConnLost marks a failure of the PostgreSQL connection: the session ends (and with it
// the lock) and the relay reconnects.
var errConnLost = errors.New("outbox connection lost")

// settleTimeout bounds the transaction that deletes (or marks) a round's rows.
const settleTimeout = 5 * time.Second

// deadRow is a row headed for the dead table, with the reason.
type deadRow struct {
	id  int64
	err error
}

// round reads up to Batch undelivered rows in id order, publishes the good ones, then in one
// transaction deletes (or marks) the delivered rows and moves the bad ones to the dead table.
// It returns how many rows it read. An engine failure keeps the rows after the last stored
// one for the next round (the stored prefix is settled); a database failure wraps
// errConnLost.
func (r *Relay) round(ctx context.Context, conn *pgx.Conn) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	rows, err := r.read(ctx, conn)
	if err != nil {
		return 0, fmt.Errorf("%w: read: %w", errConnLost, err)
	}
	if len(rows) == 0 {
		r.met.lag.Set(0)
		return 0, nil
	}
	r.met.lag.Set(max(rows[0].age, 0))

	var (
		msgs []herald.Message
		ids  []int64 // the row of each message
		dead []deadRow
	)
	for i := range rows {
		m, err := rows[i].message(r.src.Table, r.maxData)
		if err != nil {
			dead = append(dead, deadRow{rows[i].id, err})
			continue
		}
		msgs = append(msgs, m)
		ids = append(ids, rows[i].id)
	}

	delivered, dead, pubErr := r.publish(ctx, msgs, ids, dead)
	if r.afterStore != nil {
		if err := r.afterStore(ctx, conn); err != nil {
			return 0, fmt.Errorf("%w: %w", errConnLost, err)
		}
	}
	// Settle what the engine stored even when the relay is being stopped: a clean shutdown
	// then leaves nothing for the next node to re-publish (the dedup key would cover it).
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer scancel()
	if err := r.settle(sctx, conn, delivered, dead); err != nil {
		return 0, fmt.Errorf("%w: settle: %w", errConnLost, err)
	}
	if pubErr != nil {
		return 0, pubErr
	}
	return len(rows), nil
}

// read returns the next Batch undelivered rows in id order.
func (r *Relay) read(ctx context.Context, conn *pgx.Conn) ([]row, error) {
	q := `SELECT id, topic, coalesce(event, ''), data::text, final, coalesce(dedup_key, ''),
	             coalesce(extract(epoch FROM clock_timestamp() - created_at)::float8, 0)
	      FROM ` + r.src.Table
	if r.src.Keep {
		q += ` WHERE delivered_at IS NULL`
	}
	q += ` ORDER BY id LIMIT $1`
	res, err := conn.Query(ctx, q, r.src.Batch)
	if err != nil {
		return nil, err
	}
	out := make([]row, 0, r.src.Batch)
	var rw row
	_, err = pgx.ForEachRow(res, []any{&rw.id, &rw.topic, &rw.event, &rw.data, &rw.final, &rw.dedupKey, &rw.age}, func() error {
		out = append(out, rw)
		return nil
	})
	return out, err
}

// publish stores msgs in order. A message the engine refuses for good (its topic closed, or
// an invalid name the mapping did not catch) joins dead and the rest go on; any other error
// stops, returning the rows stored so far.
func (r *Relay) publish(ctx context.Context, msgs []herald.Message, ids []int64, dead []deadRow) ([]int64, []deadRow, error) {
	var delivered []int64
	for len(msgs) > 0 {
		_, err := r.pub.Publish(ctx, msgs)
		if err == nil {
			return append(delivered, ids...), dead, nil
		}
		n := 0
		var pe *herald.PublishError
		if errors.As(err, &pe) {
			n = min(max(pe.Published, 0), len(msgs))
		}
		delivered = append(delivered, ids[:n]...)
		msgs, ids = msgs[n:], ids[n:]
		if len(msgs) == 0 {
			return delivered, dead, nil
		}
		if !permanent(err) {
			return delivered, dead, fmt.Errorf("outbox: publish row %d: %w", ids[0], err)
		}
		if errors.Is(err, herald.ErrTopicClosed) {
			stored, herr := r.alreadyStored(ctx, &msgs[0])
			if herr != nil {
				return delivered, dead, fmt.Errorf("outbox: row %d: %w", ids[0], herr)
			}
			if stored {
				delivered = append(delivered, ids[0])
				msgs, ids = msgs[1:], ids[1:]
				continue
			}
		}
		dead = append(dead, deadRow{ids[0], fmt.Errorf("%w: %w", errBadRow, err)})
		msgs, ids = msgs[1:], ids[1:]
	}
	return delivered, dead, nil
}

// alreadyStored reports whether m's topic retains an event equal to m (name, data, final).
// An engine may refuse a message to a closed topic before it looks at the dedup key (NATS
// does: JetStream deduplicates on the server, the closed check comes first), so a row
// re-published after a crash between store and delete — the final row itself, or one before
// it — meets ErrTopicClosed instead of its stored event. Such a row is delivered, not dead.
// (A genuinely late row identical to a retained event of the closed topic is settled the
// same way: no event is lost, since its twin was delivered.)
func (r *Relay) alreadyStored(ctx context.Context, m *herald.Message) (bool, error) {
	const page = 1000
	var after uint64
	for {
		h, err := r.pub.History(ctx, m.Topic, after, page)
		if err != nil {
			return false, fmt.Errorf("read history of %q: %w", m.Topic, err)
		}
		for i := range h.Events {
			ev := &h.Events[i]
			if ev.Name == m.Name && ev.Final == m.Final && bytes.Equal(ev.Data, m.Data) {
				return true, nil
			}
		}
		if len(h.Events) < page {
			return false, nil
		}
		after = h.Events[len(h.Events)-1].Seq
	}
}

// permanent reports whether an engine error would recur for the same message forever.
func permanent(err error) bool {
	return errors.Is(err, herald.ErrTopicClosed) || errors.Is(err, herald.ErrInvalidTopic) ||
		errors.Is(err, herald.ErrInvalidEventName)
}

// settle deletes (or marks) the delivered rows and moves the dead ones, in one transaction,
// then counts and logs them.
func (r *Relay) settle(ctx context.Context, conn *pgx.Conn, delivered []int64, dead []deadRow) error {
	if len(delivered) == 0 && len(dead) == 0 {
		return nil
	}
	t := r.src.Table
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if len(delivered) > 0 {
			q := `DELETE FROM ` + t + ` WHERE id = ANY($1)`
			if r.src.Keep {
				q = `UPDATE ` + t + ` SET delivered_at = now() WHERE id = ANY($1)`
			}
			if _, err := tx.Exec(ctx, q, delivered); err != nil {
				return err
			}
		}
		if len(dead) > 0 {
			ids := make([]int64, len(dead))
			reasons := make([]string, len(dead))
			for i, d := range dead {
				ids[i], reasons[i] = d.id, d.err.Error()
			}
			_, err := tx.Exec(ctx, `WITH bad(id, error) AS (SELECT * FROM unnest($1::bigint[], $2::text[])),
			     moved AS (DELETE FROM `+t+` o USING bad WHERE o.id = bad.id
			               RETURNING o.id, o.topic, o.event, o.data, o.final, o.dedup_key, o.created_at, bad.error)
			INSERT INTO `+t+`_dead (id, topic, event, data, final, dedup_key, created_at, error)
			SELECT * FROM moved`, ids, reasons)
			if err != nil {
				return fmt.Errorf("move to %s_dead: %w", t, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.met.delivered.Add(float64(len(delivered)))
	r.met.dead.Add(float64(len(dead)))
	for _, d := range dead {
		r.log.Warn("outbox: row moved to the dead table", "id", d.id, "dead_table", t+"_dead", "err", d.err)
	}
	return nil
}

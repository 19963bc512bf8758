package testserver

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestPostgresAnswersQueries(t *testing.T) {
	start := time.Now()
	s := Postgres(t)
	t.Logf("postgres ready in %v", time.Since(start))
	ctx := context.Background()
	c, err := pgx.Connect(ctx, s.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var v string
	if err := c.QueryRow(ctx, "SHOW server_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v == "" {
		t.Fatal("empty server_version")
	}
	t.Logf("server_version %s", v)
}

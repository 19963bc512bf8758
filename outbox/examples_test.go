package outbox

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/bridge"
	"github.com/heraldpush/herald/engine/enginetest"
	"github.com/heraldpush/herald/engine/memory"
	"github.com/heraldpush/herald/internal/testserver"
)

// Interpreters of the documented examples: Debian's python (with python3-psycopg), the JDK's
// single-file source launcher, and the PostgreSQL JDBC driver of libpostgresql-jdbc-java.
const (
	examplePython = "/usr/bin/python3"
	exampleJDBC   = "/usr/share/java/postgresql.jar"
)

// TestDocumentedExamples runs the SQL, Python (psycopg) and Java (JDBC) examples of
// docs/outbox.md — the files under testdata/examples, whose text the doc quotes — against a
// real PostgreSQL with a relay serving the outbox: each committed entry's event arrives in
// order, the Python transaction that raises arrives never.
func TestDocumentedExamples(t *testing.T) {
	t.Parallel()
	java := testserver.RequireBinary(t, "java", "default-jdk-headless")
	if _, err := os.Stat(exampleJDBC); err != nil {
		t.Fatalf("PostgreSQL JDBC driver missing (%v); apt-get install -y libpostgresql-jdbc-java, or run ./scripts/test", err)
	}
	if out, err := exec.Command(examplePython, "-c", "import psycopg").CombinedOutput(); err != nil {
		t.Fatalf("psycopg missing for %s (%v: %s); apt-get install -y python3-psycopg, or run ./scripts/test", examplePython, err, out)
	}
	checkDocQuotes(t)

	eng := memory.New(memory.Options{Logger: quiet()})
	t.Cleanup(func() { eng.Close() })
	dsn, db := database(t, true)
	if _, err := db.Exec(t.Context(), `CREATE TABLE entries (raffle_id bigint NOT NULL, user_id bigint NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	startRelay(t, eng, dsn, bridge.OutboxSource{}, Options{}, nil)

	sql, err := os.ReadFile("testdata/examples/raffle.sql")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(t.Context(), string(sql)); err != nil {
		t.Fatalf("raffle.sql: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.CommandContext(ctx, name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}
	run(examplePython, "testdata/examples/raffle.py", dsn, "7", "43")
	run(examplePython, "testdata/examples/raffle.py", dsn, "7", "99", "--fail")
	jdbcURL := "jdbc:postgresql://" + strings.TrimPrefix(strings.Split(dsn, "/postgres?")[0], "postgres://postgres@") + "/postgres?user=postgres"
	run(java, "-cp", exampleJDBC, "testdata/examples/Raffle.java", jdbcURL, "7", "44")

	eventually(t, 15*time.Second, "three events", func() bool { return len(enginetest.HistoryData(t, eng, "raffle:7")) >= 3 })
	eventually(t, 15*time.Second, "outbox emptied", func() bool {
		return count(t, db, "SELECT count(*) FROM "+table) == 0
	})
	var entries []int
	for _, d := range enginetest.HistoryData(t, eng, "raffle:7") {
		var v struct {
			Entries int     `json:"entries"`
			Odds    float64 `json:"odds"`
		}
		if err := json.Unmarshal([]byte(d), &v); err != nil {
			t.Fatalf("event data %q: %v", d, err)
		}
		entries = append(entries, v.Entries)
	}
	if !slices.Equal(entries, []int{1, 2, 3}) {
		t.Errorf("entries of the delivered odds = %v; want [1 2 3] (SQL, Python, Java; not the rolled-back one)", entries)
	}
	if n := count(t, db, "SELECT count(*) FROM entries WHERE user_id = 99"); n != 0 {
		t.Errorf("the failed transaction left %d entries", n)
	}
}

// checkDocQuotes fails when docs/outbox.md's example blocks differ from the files run here.
func checkDocQuotes(t *testing.T) {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "docs", "outbox.md"))
	if err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("testdata", "examples", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	py := read("raffle.py")
	java := read("Raffle.java")
	quotes := map[string]string{
		"raffle.sql":  read("raffle.sql"),
		"raffle.py":   py[strings.Index(py, "import psycopg\n"):strings.Index(py, "\n\nclass Failed")] + "\n",
		"Raffle.java": java[:strings.Index(java, "\n    /** The Java example")] + "\n}\n",
	}
	for name, q := range quotes {
		if !strings.Contains(string(doc), "\n"+q+"```") {
			t.Errorf("docs/outbox.md does not quote testdata/examples/%s as it is", name)
		}
	}
}

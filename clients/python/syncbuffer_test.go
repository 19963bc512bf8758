package python_test

import "github.com/heraldpush/herald/internal/syncbuf"

// syncBuffer is a bytes.Buffer safe for a process's writes and a test's reads.
type syncBuffer = syncbuf.Buffer

package sse_test

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/heraldpush/herald/sse"
)

func ExampleAppendEvent() {
	frame := sse.AppendID(nil, []byte("k2x9q7ab-42"))
	frame = sse.AppendEvent(frame, "progress", []byte("line one\r\nline two"))
	os.Stdout.Write(frame)
	// Output:
	// id: k2x9q7ab-42
	// event: progress
	// data: line one
	// data: line two
}

func ExampleReader() {
	stream := ": hello\nretry: 2000\n\n" + // Herald's first bytes
		"id: k2x9q7ab-0\n\n" + // a cursor without an event
		"id: k2x9q7ab-1\nevent: progress\ndata: {\"pct\":40}\n\n" +
		"id: k2x9q7ab-2\ndata: two\ndata: lines\n\n"
	r := sse.NewReader(strings.NewReader(stream))
	r.OnComment(func(text []byte) { fmt.Printf("comment %q\n", text) })
	for {
		ev, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Printf("id=%s event=%q data=%q\n", ev.ID, ev.Name, ev.Data)
	}
	retry, _ := r.Retry()
	fmt.Println("last id:", r.LastEventID(), "retry:", retry)
	// Output:
	// comment "hello"
	// id=k2x9q7ab-1 event="progress" data="{\"pct\":40}"
	// id=k2x9q7ab-2 event="" data="two\nlines"
	// last id: k2x9q7ab-2 retry: 2s
}

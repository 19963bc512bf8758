package redis

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

	"github.com/heraldpush/herald"
)

// An event is stored in history and sent on the live channel in one text form, built by the
// publish script:
//
//	<epoch> <seq> <time ns> <sent ns> <final 0|1> <len(name)>\n<name><data>
//
// Prev is Seq-1 (sequence numbers are dense). The header is ASCII and the name's length is
// explicit, so name and data may hold any bytes.

var errBadEvent = errors.New("malformed stored event")

// decodeEvent parses b into ev for topic. ev.Data aliases b.
func decodeEvent(topic herald.Topic, b []byte, ev *herald.Event) error {
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 {
		return errBadEvent
	}
	var f [6][]byte
	h := b[:nl]
	for i := range f {
		sp := bytes.IndexByte(h, ' ')
		if i == len(f)-1 {
			if sp >= 0 {
				return errBadEvent
			}
			f[i] = h
			break
		}
		if sp < 0 {
			return errBadEvent
		}
		f[i], h = h[:sp], h[sp+1:]
	}
	seq, err1 := strconv.ParseUint(string(f[1]), 10, 64)
	tm, err2 := strconv.ParseInt(string(f[2]), 10, 64)
	sent, err3 := strconv.ParseInt(string(f[3]), 10, 64)
	nameLen, err4 := strconv.Atoi(string(f[5]))
	if err := errors.Join(err1, err2, err3, err4); err != nil || seq == 0 {
		return fmt.Errorf("%w: %v", errBadEvent, err)
	}
	rest := b[nl+1:]
	if nameLen < 0 || nameLen > len(rest) {
		return errBadEvent
	}
	*ev = herald.Event{
		Topic:    topic,
		Position: herald.Position{Epoch: string(f[0]), Seq: seq},
		Prev:     seq - 1,
		Name:     herald.EventName(rest[:nameLen]),
		Data:     rest[nameLen:],
		Final:    len(f[4]) == 1 && f[4][0] == '1',
		Time:     tm,
		SentTime: sent,
	}
	return nil
}

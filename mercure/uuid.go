package mercure

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// newUUIDv7 returns a random, time-ordered UUID (RFC 9562 version 7) in its text form.
func newUUIDv7(now time.Time) string {
	var u [16]byte
	_, _ = rand.Read(u[6:]) // crypto/rand never fails on Linux
	ms := uint64(now.UnixMilli())
	u[0], u[1], u[2] = byte(ms>>40), byte(ms>>32), byte(ms>>24)
	u[3], u[4], u[5] = byte(ms>>16), byte(ms>>8), byte(ms)
	u[6] = 0x70 | u[6]&0x0f // version 7
	u[8] = 0x80 | u[8]&0x3f // variant 10
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

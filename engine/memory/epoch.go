package memory

import "crypto/rand"

// epochLen is the length of a topic epoch: 8 characters of [0-9a-z], about 41 bits, so two
// incarnations of one topic practically never share an epoch.
const epochLen = 8

const epochAlphabet = "0123456789abcdefghijklmnopqrstuvwxyz"

// newEpoch returns a random epoch from crypto/rand. Bytes >= 252 are rejected so every
// character is equally likely (252 = 7·36).
func newEpoch() string {
	var out [epochLen]byte
	var src [2 * epochLen]byte
	n := 0
	for n < epochLen {
		rand.Read(src[:]) // never fails since Go 1.24
		for _, b := range src {
			if b < 252 && n < epochLen {
				out[n] = epochAlphabet[b%36]
				n++
			}
		}
	}
	return string(out[:])
}

// Package epoch makes topic epochs for the engines: the name of one incarnation of a topic's
// history (herald.Position.Epoch).
package epoch

import "crypto/rand"

// Len is the length of a topic epoch: 8 characters of [0-9a-z], about 41 bits, so two
// incarnations of one topic practically never share an epoch.
const Len = 8

const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"

// New returns a random epoch from crypto/rand. Bytes >= 252 are rejected so every
// character is equally likely (252 = 7·36).
func New() string {
	var out [Len]byte
	var src [2 * Len]byte
	n := 0
	for n < Len {
		rand.Read(src[:]) // never fails since Go 1.24
		for _, b := range src {
			if b < 252 && n < Len {
				out[n] = alphabet[b%36]
				n++
			}
		}
	}
	return string(out[:])
}

package presence

// userCounts is one topic's local connections per user. Most topics (a topic per user or
// per task) have a single user, so that user's count lives inline and a map is made only
// for a topic's second user: a topic held by one stream costs a few words, not a map.
// Counts are positive; a user absent from both places has none.
type userCounts struct {
	user string         // the inline user, when n > 0
	n    int            // the inline user's connections; 0 when the slot is free
	more map[string]int // every other user; nil while there is none
}

// get returns user's connections.
func (c userCounts) get(user string) int {
	if c.n > 0 && c.user == user {
		return c.n
	}
	return c.more[user]
}

// add changes user's connections by d and returns the count before.
func (c *userCounts) add(user string, d int) (before int) {
	if c.n > 0 && c.user == user {
		before = c.n
		if c.n += d; c.n <= 0 {
			c.user, c.n = "", 0
		}
		return before
	}
	before = c.more[user]
	if before == 0 && c.n == 0 && d > 0 {
		c.user, c.n = user, d
		return 0
	}
	if n := before + d; n > 0 {
		if c.more == nil {
			c.more = make(map[string]int)
		}
		c.more[user] = n
	} else {
		delete(c.more, user)
		if len(c.more) == 0 {
			c.more = nil
		}
	}
	return before
}

// empty reports whether no user has a connection.
func (c userCounts) empty() bool { return c.n == 0 && len(c.more) == 0 }

// total returns the connections of every user together.
func (c userCounts) total() int {
	n := c.n
	for _, k := range c.more {
		n += k
	}
	return n
}

// fill adds the counts to m, an empty map, and returns it.
func (c userCounts) fill(m map[string]int) map[string]int {
	for u, k := range c.more {
		m[u] = k
	}
	if c.n > 0 {
		m[c.user] = c.n
	}
	return m
}

package mercure

// index finds the subscribers of an update without matching every subscriber's selectors:
// exact selectors are looked up in a map by topic, "*" subscribers are a set, and templates
// are grouped first by their literal prefix (looked up with the topic's own prefixes of the
// lengths in use) and then by template, so one regular expression runs per distinct
// template whose prefix fits, however many subscribers share it. The caller holds the lock
// that guards it (Hub.mu).
type index struct {
	exact    map[string]map[*subscriber]struct{}
	all      map[*subscriber]struct{}
	byPrefix map[string]map[string]*templateGroup // literal prefix → template → group
	lens     map[int]int                          // prefix length → number of groups
	n        int                                  // subscribers
}

// templateGroup is the subscribers of one template (with how many of their selectors are it).
type templateGroup struct {
	sel  *selector
	subs map[*subscriber]int
}

func newIndex() *index {
	return &index{
		exact:    make(map[string]map[*subscriber]struct{}),
		all:      make(map[*subscriber]struct{}),
		byPrefix: make(map[string]map[string]*templateGroup),
		lens:     make(map[int]int),
	}
}

func (x *index) add(s *subscriber) {
	x.n++
	for _, sel := range s.sels {
		switch sel.kind {
		case selectAll:
			x.all[s] = struct{}{}
		case selectExact:
			m := x.exact[sel.raw]
			if m == nil {
				m = make(map[*subscriber]struct{})
				x.exact[sel.raw] = m
			}
			m[s] = struct{}{}
		case selectTemplate:
			groups := x.byPrefix[sel.prefix]
			if groups == nil {
				groups = make(map[string]*templateGroup)
				x.byPrefix[sel.prefix] = groups
			}
			g := groups[sel.raw]
			if g == nil {
				g = &templateGroup{sel: sel, subs: make(map[*subscriber]int)}
				groups[sel.raw] = g
				x.lens[len(sel.prefix)]++
			}
			g.subs[s]++
		}
	}
}

func (x *index) remove(s *subscriber) {
	x.n--
	for _, sel := range s.sels {
		switch sel.kind {
		case selectAll:
			delete(x.all, s)
		case selectExact:
			if m := x.exact[sel.raw]; m != nil {
				delete(m, s)
				if len(m) == 0 {
					delete(x.exact, sel.raw)
				}
			}
		case selectTemplate:
			groups := x.byPrefix[sel.prefix]
			g := groups[sel.raw]
			if g == nil {
				continue
			}
			if g.subs[s]--; g.subs[s] <= 0 {
				delete(g.subs, s)
			}
			if len(g.subs) == 0 {
				delete(groups, sel.raw)
				if len(groups) == 0 {
					delete(x.byPrefix, sel.prefix)
				}
				if x.lens[len(sel.prefix)]--; x.lens[len(sel.prefix)] == 0 {
					delete(x.lens, len(sel.prefix))
				}
			}
		}
	}
}

// each calls f once for every subscriber one of whose selectors matches one of topics; seq
// (unique per update, never 0) deduplicates subscribers matched several times.
func (x *index) each(topics []string, seq uint64, f func(*subscriber)) {
	visit := func(s *subscriber) {
		if s.mark != seq {
			s.mark = seq
			f(s)
		}
	}
	for _, t := range topics {
		for s := range x.exact[t] {
			visit(s)
		}
		for l := range x.lens {
			if l > len(t) {
				continue
			}
			for _, g := range x.byPrefix[t[:l]] {
				if g.sel.re.MatchString(t) {
					for s := range g.subs {
						visit(s)
					}
				}
			}
		}
	}
	for s := range x.all {
		visit(s)
	}
}

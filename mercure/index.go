package mercure

// index finds the subscribers of an update without matching every subscriber's selectors:
// exact selectors are looked up in a map by topic, "*" subscribers are a set, and templates
// are grouped first by their literal prefix (looked up with the topic's own prefixes of the
// lengths in use) and then by template, so one regular expression runs per distinct
// template whose prefix fits, however many subscribers share it. The caller holds the lock
// that guards it (Hub.mu).
//
// Each set is a slice (iterated in fan-out, so contiguous) of (subscriber, selector index)
// entries; a subscriber remembers where each of its selectors sits (subscriber.slots), so
// leaving is a swap with the last entry.
type index struct {
	exact    map[string]*subSet
	all      subSet
	byPrefix map[string]map[string]*templateGroup // literal prefix → template → group
	lens     map[int]int                          // prefix length → number of groups
	n        int                                  // subscribers
}

// entry is one subscriber's selector number i in a set.
type entry struct {
	s *subscriber
	i int
}

// subSet is a set of subscriber selectors.
type subSet []entry

func (set *subSet) add(s *subscriber, i int) {
	s.slots[i] = len(*set)
	*set = append(*set, entry{s, i})
}

func (set *subSet) remove(s *subscriber, i int) {
	l := *set
	p := s.slots[i]
	if p < 0 || p >= len(l) || l[p].s != s || l[p].i != i {
		return
	}
	last := l[len(l)-1]
	l[p] = last
	last.s.slots[last.i] = p
	l[len(l)-1] = entry{}
	l = l[:len(l)-1]
	if cap(l) > 64 && len(l) < cap(l)/4 {
		l = append(subSet(nil), l...)
	}
	*set = l
	s.slots[i] = -1
}

// templateGroup is the subscribers of one template.
type templateGroup struct {
	sel  *selector
	subs subSet
}

func newIndex() *index {
	return &index{
		exact:    make(map[string]*subSet),
		byPrefix: make(map[string]map[string]*templateGroup),
		lens:     make(map[int]int),
	}
}

func (x *index) add(s *subscriber) {
	x.n++
	s.slots = make([]int, len(s.sels))
	for i, sel := range s.sels {
		switch sel.kind {
		case selectAll:
			x.all.add(s, i)
		case selectExact:
			set := x.exact[sel.raw]
			if set == nil {
				set = new(subSet)
				x.exact[sel.raw] = set
			}
			set.add(s, i)
		case selectTemplate:
			groups := x.byPrefix[sel.prefix]
			if groups == nil {
				groups = make(map[string]*templateGroup)
				x.byPrefix[sel.prefix] = groups
			}
			g := groups[sel.raw]
			if g == nil {
				g = &templateGroup{sel: sel}
				groups[sel.raw] = g
				x.lens[len(sel.prefix)]++
			}
			g.subs.add(s, i)
		}
	}
}

func (x *index) remove(s *subscriber) {
	x.n--
	for i, sel := range s.sels {
		switch sel.kind {
		case selectAll:
			x.all.remove(s, i)
		case selectExact:
			if set := x.exact[sel.raw]; set != nil {
				set.remove(s, i)
				if len(*set) == 0 {
					delete(x.exact, sel.raw)
				}
			}
		case selectTemplate:
			groups := x.byPrefix[sel.prefix]
			g := groups[sel.raw]
			if g == nil {
				continue
			}
			g.subs.remove(s, i)
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
	visit := func(set subSet) {
		for _, e := range set {
			if e.s.mark != seq {
				e.s.mark = seq
				f(e.s)
			}
		}
	}
	for _, t := range topics {
		if set := x.exact[t]; set != nil {
			visit(*set)
		}
		for l := range x.lens {
			if l > len(t) {
				continue
			}
			for _, g := range x.byPrefix[t[:l]] {
				if g.sel.re.MatchString(t) {
					visit(g.subs)
				}
			}
		}
	}
	visit(x.all)
}

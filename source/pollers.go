package source

import "sync"

// Pollers routes wake-ups, such as webhooks, to the pollers of a
// repository. The zero value is ready to use and safe for concurrent use.
type Pollers struct {
	mu    sync.RWMutex
	byKey map[string]map[*Poller]struct{}
}

// Add registers p under its RepoKey.
func (s *Pollers) Add(p *Poller) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byKey == nil {
		s.byKey = map[string]map[*Poller]struct{}{}
	}
	set := s.byKey[p.key]
	if set == nil {
		set = map[*Poller]struct{}{}
		s.byKey[p.key] = set
	}
	set[p] = struct{}{}
}

// Remove unregisters p.
func (s *Pollers) Remove(p *Poller) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if set := s.byKey[p.key]; set != nil {
		delete(set, p)
		if len(set) == 0 {
			delete(s.byKey, p.key)
		}
	}
}

// Wake wakes every poller whose repository matches one of repoURLs (in
// any form RepoKey understands) and returns how many it woke. A poller
// matched by several URLs is woken once.
func (s *Pollers) Wake(repoURLs ...string) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	woken := map[*Poller]bool{}
	for _, u := range repoURLs {
		key := RepoKey(u)
		if key == "" {
			continue
		}
		for p := range s.byKey[key] {
			if !woken[p] {
				woken[p] = true
				p.Wake()
			}
		}
	}
	return len(woken)
}

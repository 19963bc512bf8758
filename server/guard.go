package server

// Guards around other handlers: the admin token for /dashboard and /metrics, and the publish
// admission for endpoints that publish on a client's behalf.

import (
	"fmt"
	"net/http"
	"path"
	"strings"

	"github.com/heraldpush/herald/auth"
)

// adminGuard requires the admin token for /dashboard and, with ProtectMetrics, /metrics.
func (s *Server) adminGuard(next http.Handler) http.Handler {
	if !s.sec.hasAdmin {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := path.Clean("/" + r.URL.Path)
		guarded := p == "/dashboard" || strings.HasPrefix(p, "/dashboard/") ||
			(s.sec.protectMetrics && p == "/metrics")
		if guarded && !s.sec.isAdmin(r) {
			s.denied(w, r, fmt.Errorf("%w: %s needs the admin token", auth.ErrNoToken, p))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// GuardPublish admits requests to next only as far as POST /v1/publish would admit them
// (credentials, dev-mode loopback rule, publish rate). Other endpoints that publish on a
// client's behalf — the demo pages' API — mount behind it, so they never widen who may
// publish.
func (s *Server) GuardPublish(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			if _, ok := s.admitPublish(w, r); !ok {
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

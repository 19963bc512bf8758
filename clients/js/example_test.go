package js_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	heraldjs "github.com/heraldpush/herald/clients/js"
)

// Mounting the library on a mux, as Herald's web pages do: pages then import it with
// `import { herald } from '/herald.js'`.
func ExampleNewHandler() {
	lib := heraldjs.NewHandler()
	mux := http.NewServeMux()
	mux.Handle(heraldjs.ScriptPath, lib)
	mux.Handle(heraldjs.TypesPath, lib)

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/herald.js?v="+lib.Version(), nil))
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	fmt.Println(rec.Header().Get("Cache-Control"))
	// Output:
	// 200 text/javascript; charset=utf-8
	// public, max-age=31536000, immutable
}

// Command native is the seed app of connect-mongodb-session on the native
// net/http session manager (package httpsession): each visit of / counts a
// view with an atomic Incr and answers Hello {"views":N}. It adds a login
// form and a "your devices" page that lists the user's sessions, each with
// a button that ends it.
//
//	go run ./examples/native            # embedded server, data in examples/native/data
//	MONGODB_URI=mongodb://localhost:27017/app go run ./examples/native
//
// Demo users: alice (password "wonderland") and bob ("builder").
package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"flag"
	"fmt"
	"html/template"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/httpsession"
	"github.com/mongosession/mongosession/internal/exampleserver"
	"github.com/mongosession/mongosession/testserver"
)

func main() {
	secure := flag.Bool("secure", false, "mark the session cookie Secure (set it whenever the app is served over HTTPS)")
	flags := exampleserver.ParseFlags("native")
	exampleserver.Run(func(ctx context.Context) error { return run(ctx, flags, *secure) })
}

func run(ctx context.Context, flags exampleserver.Flags, secure bool) error {
	uri, stopServer, err := testserver.URIFromEnv(ctx, flags.Data, os.Stdout)
	if err != nil {
		return err
	}
	defer stopServer()

	store, err := mongosession.New(ctx, mongosession.Options{
		URI:      uri,
		Database: "connect_mongodb_session_test",
		// A collection of its own: the native manager's documents are not
		// the byte-level faces' (see package httpsession).
		Collection: "nativeSessions",
		OnError:    func(err error) { log.Println(err) },
	})
	if err != nil {
		return err
	}
	defer store.Close()

	app, _ := newApp(store, secure)
	srv := &http.Server{Handler: app, ReadHeaderTimeout: 10 * time.Second}
	return exampleserver.ListenAndServe(ctx, flags.Addr, srv)
}

// users are the demo accounts: name -> password.
var users = map[string]string{"alice": "wonderland", "bob": "builder"}

// newApp returns the example's handler and its session manager, on store.
func newApp(store *mongosession.Store, secure bool) (http.Handler, *httpsession.Manager) {
	sm := httpsession.New(store)
	sm.Lifetime = 7 * 24 * time.Hour
	sm.IdleTimeout = 2 * time.Hour
	sm.Cookie.Secure = secure

	mux := http.NewServeMux()

	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		views, err := sm.Incr(r.Context(), "views", 1)
		if err != nil {
			http.Error(w, "the view counter failed", http.StatusInternalServerError)
			return
		}
		body, _ := json.Marshal(map[string]int64{"views": views})
		fmt.Fprintf(w, "Hello %s", body)
	})

	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		render(w, loginPage, map[string]any{"User": sm.User(r.Context()), "Failed": r.URL.Query().Has("failed")})
	})

	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		name, password := r.PostFormValue("user"), r.PostFormValue("password")
		want, ok := users[name]
		if !ok || subtle.ConstantTimeCompare([]byte(password), []byte(want)) != 1 {
			http.Redirect(w, r, "/login?failed", http.StatusSeeOther)
			return
		}
		// The user first, then a new token: the renewed session is inserted
		// with its user in one write, and a token planted before login is
		// worthless after it.
		sm.SetUser(r.Context(), name)
		if err := sm.RenewToken(r.Context()); err != nil {
			http.Error(w, "login failed", http.StatusInternalServerError)
			return
		}
		http.Redirect(w, r, "/devices", http.StatusSeeOther)
	})

	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := sm.Destroy(r.Context()); err != nil {
			http.Error(w, "logout failed", http.StatusInternalServerError)
			return
		}
		http.Redirect(w, r, "/login", http.StatusSeeOther)
	})

	mux.HandleFunc("GET /devices", func(w http.ResponseWriter, r *http.Request) {
		user := sm.User(r.Context())
		if user == "" {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		list, err := sm.Sessions(r.Context(), user)
		if err != nil {
			http.Error(w, "cannot list your sessions", http.StatusInternalServerError)
			return
		}
		render(w, devicesPage, map[string]any{"User": user, "Sessions": list})
	})

	mux.HandleFunc("POST /devices/end", func(w http.ResponseWriter, r *http.Request) {
		user := sm.User(r.Context())
		if user == "" {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		// RevokeSession only ever deletes a session of this user, whatever
		// id the form sends.
		if err := sm.RevokeSession(r.Context(), user, r.PostFormValue("id")); err != nil {
			http.Error(w, "cannot end that session", http.StatusInternalServerError)
			return
		}
		http.Redirect(w, r, "/devices", http.StatusSeeOther)
	})

	// SameSite=Lax keeps the cookie off cross-site POSTs; the cross-origin
	// check refuses them outright.
	return sm.LoadAndSave(http.NewCrossOriginProtection().Handler(mux)), sm
}

func render(w http.ResponseWriter, t *template.Template, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := t.Execute(w, data); err != nil {
		log.Println("template:", err)
	}
}

const style = `<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}li{margin:.5em 0}</style>`

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Log in</title>` + style + `</head><body>
<h1>Log in</h1>
{{if .User}}<p id="signed-in">Signed in as {{.User}}. <a href="/devices">Your devices</a></p>{{end}}
{{if .Failed}}<p id="failed">Wrong name or password.</p>{{end}}
<form id="login" method="post" action="/login">
<label>Name <input id="user" name="user" autocomplete="username"></label>
<label>Password <input id="password" name="password" type="password" autocomplete="current-password"></label>
<button id="submit" type="submit">Log in</button>
</form>
<p>Demo users: alice / wonderland, bob / builder.</p>
</body></html>`))

var devicesPage = template.Must(template.New("devices").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Your devices</title>` + style + `</head><body>
<h1 id="devices">Your devices, {{.User}}</h1>
<ul>
{{range .Sessions}}<li class="session{{if .Current}} current{{end}}">
{{.UserAgent}}<br>signed in {{.Created.Format "2006-01-02 15:04"}}, last seen {{.LastSeen.Format "2006-01-02 15:04:05"}}
{{if .Current}}<strong>(this device)</strong>
{{else}}<form method="post" action="/devices/end"><input type="hidden" name="id" value="{{.ID}}"><button class="end" type="submit">End this session</button></form>
{{end}}</li>
{{end}}</ul>
<form method="post" action="/logout"><button id="logout" type="submit">Log out</button></form>
</body></html>`))

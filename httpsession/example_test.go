package httpsession_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/httpsession"
)

// A server counting views with an atomic counter, with a login that renews
// the token and a logout that destroys the session.
func Example() {
	ctx := context.Background()
	store, err := mongosession.New(ctx, mongosession.Options{
		URI:        "mongodb://localhost:27017",
		Database:   "app",
		Collection: "sessions", // the manager's own collection
	})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	sm := httpsession.New(store)
	sm.Lifetime = 24 * time.Hour
	sm.IdleTimeout = 30 * time.Minute
	sm.Cookie.Secure = true // served over HTTPS

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		views, err := sm.Incr(r.Context(), "views", 1)
		if err != nil {
			http.Error(w, "counter failed", http.StatusInternalServerError)
			return
		}
		body, _ := json.Marshal(map[string]int64{"views": views})
		fmt.Fprintf(w, "Hello %s", body)
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		// ... check the credentials, then:
		sm.SetUser(r.Context(), r.PostFormValue("user"))
		if err := sm.RenewToken(r.Context()); err != nil {
			http.Error(w, "login failed", http.StatusInternalServerError)
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := sm.Destroy(r.Context()); err != nil {
			http.Error(w, "logout failed", http.StatusInternalServerError)
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	log.Fatal(http.ListenAndServe(":3000", sm.LoadAndSave(mux)))
}

// Decode reads a stored struct or map back into a variable.
func ExampleManager_Decode() {
	type cart struct {
		Items []string `bson:"items"`
		Total int      `bson:"total"`
	}
	var sm *httpsession.Manager // from httpsession.New
	handler := func(w http.ResponseWriter, r *http.Request) {
		sm.Put(r.Context(), "cart", cart{Items: []string{"book"}, Total: 12})
		var c cart
		if found, err := sm.Decode(r.Context(), "cart", &c); err != nil || !found {
			http.Error(w, "no cart", http.StatusBadRequest)
			return
		}
		fmt.Fprintln(w, c.Items, c.Total)
	}
	_ = handler
}

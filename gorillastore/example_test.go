package gorillastore_test

import (
	"context"
	"fmt"
	"net/http"
	"os"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/gorillastore"
)

// A net/http handler counting views in a session kept in MongoDB.
func Example() {
	store, err := mongosession.New(context.Background(), mongosession.Options{
		URI:        os.Getenv("MONGODB_URI"),
		Collection: "sessions",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()
	hashKey := []byte(os.Getenv("SESSION_KEY")) // 32 or 64 secret random bytes
	sessions := gorillastore.New(store, hashKey)

	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		session, err := sessions.Get(r, "session")
		if err != nil { // MongoDB failed; session is a fresh one
			http.Error(w, "session unavailable", http.StatusInternalServerError)
			return
		}
		views, _ := session.Values["views"].(int)
		session.Values["views"] = views + 1
		if err := session.Save(r, w); err != nil {
			http.Error(w, "session unavailable", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "Hello {\"views\":%d}", views+1)
	})
}

package mongosession_test

import (
	"cmp"
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/mongosession/mongosession"
)

func Example() {
	ctx := context.Background()
	store, err := mongosession.New(ctx, mongosession.Options{
		URI:        os.Getenv("MONGODB_URI"), // e.g. mongodb://localhost:27017/myapp
		Collection: cmp.Or(os.Getenv("SESSIONS_COLLECTION"), "sessions"),
		OnError:    func(err error) { log.Println(err) },
	})
	if err != nil {
		log.Fatal(err) // cannot reach MongoDB: fails here, like the Node store's constructor
	}
	defer store.Close()

	sm := scs.New()
	sm.Store = store // satisfies scs.Store, CtxStore, IterableStore, IterableCtxStore
	sm.Lifetime = 24 * time.Hour
	fmt.Println("ready")
	// Output: ready
}

func ExampleStore_Iter() {
	ctx := context.Background()
	store, err := mongosession.New(ctx, mongosession.Options{
		URI:        os.Getenv("MONGODB_URI"),
		Collection: cmp.Or(os.Getenv("SESSIONS_COLLECTION"), "sessions"),
		AutoRemove: mongosession.AutoRemoveOff,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	defer store.Clear(ctx)

	_ = store.CommitCtx(ctx, "token-a", []byte("a"), time.Now().Add(time.Hour))
	_ = store.CommitCtx(ctx, "token-b", []byte("b"), time.Now().Add(-time.Minute)) // already expired

	// Iter streams live sessions from one cursor; expired ones never appear.
	for rec, err := range store.Iter(ctx) {
		if err != nil {
			log.Fatal(err)
		}
		// rec.ID is the stored _id: the token's SHA-256, not the token.
		fmt.Println(rec.ID == mongosession.HashID("token-a"), string(rec.Data))
	}
	n, _ := store.Count(ctx)
	fmt.Println("active:", n)
	// Output:
	// true a
	// active: 1
}

package httpsession_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mongosession/mongosession/httpsession"
)

type profile struct {
	Name  string   `bson:"name"`
	Tags  []string `bson:"tags"`
	Admin bool     `bson:"admin"`
}

// step runs fn inside one request of client c, through the manager.
func step(t *testing.T, e *env, c *http.Client, fn func(ctx context.Context) error) {
	t.Helper()
	var mu sync.Mutex
	var ferr error
	e.srv.Config.Handler = e.m.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ferr = fn(r.Context())
		mu.Unlock()
	}))
	e.mustGet(t, c, "/")
	mu.Lock()
	defer mu.Unlock()
	if ferr != nil {
		t.Fatal(ferr)
	}
}

func testValues(t *testing.T, e *env) {
	c := e.client(t)
	m := e.m
	when := time.Date(2026, 5, 4, 3, 2, 1, 123456789, time.UTC)
	step(t, e, c, func(ctx context.Context) error {
		m.Put(ctx, "s", "text")
		m.Put(ctx, "b", true)
		m.Put(ctx, "i", 42)
		m.Put(ctx, "big", int64(1)<<40)
		m.Put(ctx, "f", 2.5)
		m.Put(ctx, "bytes", []byte{0, 1, 2})
		m.Put(ctx, "t", when)
		m.Put(ctx, "p", profile{Name: "ann", Tags: []string{"x", "y"}, Admin: true})
		m.Put(ctx, "map", map[string]int{"a": 1, "b": 2})
		m.Put(ctx, "gone", "soon")
		m.Put(ctx, "pop", "once")
		return nil
	})
	step(t, e, c, func(ctx context.Context) error {
		var errs []string
		check := func(name string, got, want any) {
			if !reflect.DeepEqual(got, want) {
				errs = append(errs, fmt.Sprintf("%s: got %#v, want %#v", name, got, want))
			}
		}
		check("GetString", m.GetString(ctx, "s"), "text")
		check("GetBool", m.GetBool(ctx, "b"), true)
		check("GetInt", m.GetInt(ctx, "i"), 42)
		check("Get int", m.Get(ctx, "i"), 42)
		check("GetInt64", m.GetInt64(ctx, "big"), int64(1)<<40)
		check("Get int64", m.Get(ctx, "big"), int64(1)<<40)
		check("GetFloat", m.GetFloat(ctx, "f"), 2.5)
		check("GetBytes", m.GetBytes(ctx, "bytes"), []byte{0, 1, 2})
		check("GetTime", m.GetTime(ctx, "t"), when.Truncate(time.Millisecond))
		check("GetString of an int", m.GetString(ctx, "i"), "")
		check("GetInt of a string", m.GetInt(ctx, "s"), 0)
		check("Get missing", m.Get(ctx, "missing"), nil)
		check("Exists", m.Exists(ctx, "s"), true)
		check("Exists missing", m.Exists(ctx, "missing"), false)
		var p profile
		found, err := m.Decode(ctx, "p", &p)
		check("Decode struct", []any{found, err, p}, []any{true, nil, profile{Name: "ann", Tags: []string{"x", "y"}, Admin: true}})
		var mp map[string]int
		found, err = m.Decode(ctx, "map", &mp)
		check("Decode map", []any{found, err, mp}, []any{true, nil, map[string]int{"a": 1, "b": 2}})
		found, err = m.Decode(ctx, "missing", &mp)
		check("Decode missing", []any{found, err}, []any{false, nil})
		if _, err := m.Decode(ctx, "s", &p); err == nil {
			errs = append(errs, "Decode of a string into a struct did not fail")
		}
		check("PopString", m.PopString(ctx, "pop"), "once")
		check("Pop again", m.Pop(ctx, "pop"), nil)
		m.Remove(ctx, "gone")
		if _, err := m.Incr(ctx, "s", 1); !errors.Is(err, httpsession.ErrNotInteger) {
			errs = append(errs, fmt.Sprintf("Incr of a string: %v", err))
		}
		if len(errs) > 0 {
			return errors.New(strings.Join(errs, "\n"))
		}
		return nil
	})
	step(t, e, c, func(ctx context.Context) error {
		want := []string{"b", "big", "bytes", "f", "i", "map", "p", "s", "t"}
		if got := m.Keys(ctx); !reflect.DeepEqual(got, want) {
			return fmt.Errorf("Keys %v, want %v", got, want)
		}
		// Incr of a value put as an int, then as a fresh key.
		if n, err := m.Incr(ctx, "i", 8); n != 50 || err != nil {
			return fmt.Errorf("Incr of 42 by 8: %d %v", n, err)
		}
		if n, err := m.Incr(ctx, "fresh", -3); n != -3 || err != nil {
			return fmt.Errorf("Incr of a missing key: %d %v", n, err)
		}
		m.Clear(ctx)
		m.Put(ctx, "after", "clear")
		return nil
	})
	step(t, e, c, func(ctx context.Context) error {
		if got := m.Keys(ctx); !reflect.DeepEqual(got, []string{"after"}) {
			return fmt.Errorf("after Clear, keys %v", got)
		}
		return nil
	})
}

func TestValues(t *testing.T) {
	testValues(t, newEnv(t, envConfig{}))
}

func TestPutUnencodable(t *testing.T) {
	e := newEnv(t, envConfig{})
	e.srv.Config.Handler = e.m.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.m.Put(r.Context(), "ch", make(chan int))
		w.Write([]byte("handler output"))
	}))
	code, body, _ := e.get(t, e.client(t), "/")
	if code != 500 || strings.Contains(body, "handler output") {
		t.Fatalf("unencodable value: %d %q", code, body)
	}
	if err := <-e.errs; !strings.Contains(err.Error(), "chan") {
		t.Errorf("ErrorFunc got %v", err)
	}
	if n := e.count(t); n != 0 {
		t.Errorf("%d documents stored", n)
	}
}

func encryptionKey(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func TestEncryptedValues(t *testing.T) {
	e := newEnv(t, envConfig{keys: [][]byte{encryptionKey(7)}})
	testValues(t, e)
	c := e.client(t)
	step(t, e, c, func(ctx context.Context) error {
		e.m.Put(ctx, "secret", "plaintext-marker")
		e.m.Put(ctx, "n", 5)
		return nil
	})
	raw := e.doc(t, e.token(c))
	if bytes.Contains(raw, []byte("plaintext-marker")) {
		t.Fatal("the stored document holds the plaintext")
	}
	if bytes.Contains(raw, []byte(httpsession.DefaultCookieName+"=")) || bytes.Contains(raw, []byte(e.token(c))) {
		t.Fatal("the stored document holds the token")
	}
	// A ciphertext moved to another key does not decrypt: the session is
	// then unreadable ("not found") rather than wrong.
	ctx := context.Background()
	s := raw.Lookup("session").Document()
	moved := s.Lookup("secret")
	filter := map[string]any{"_id": raw.Lookup("_id").StringValue()}
	if _, err := e.coll.UpdateOne(ctx, filter, map[string]any{"$set": map[string]any{"session.n": moved}}); err != nil {
		t.Fatal(err)
	}
	step(t, e, c, func(ctx context.Context) error {
		if e.m.Exists(ctx, "secret") || e.m.Exists(ctx, "n") {
			return errors.New("a tampered session was loaded")
		}
		return nil
	})
}

func TestEncryptedConcurrentIncr(t *testing.T) {
	e := newEnv(t, envConfig{keys: [][]byte{encryptionKey(9)}, poolSize: concurrency(t)})
	testConcurrentIncr(t, e, 30)
}

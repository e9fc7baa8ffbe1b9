package servererr

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo"
)

func TestHas(t *testing.T) {
	conflict := mongo.CommandError{Code: IndexOptionsConflict, Name: "IndexOptionsConflict"}
	denied := mongo.CommandError{Code: Unauthorized, Name: "Unauthorized"}
	writeErr := mongo.WriteException{WriteErrors: mongo.WriteErrors{{Code: TypeMismatch}}}
	// What ensureTTLIndex returns when createIndexes conflicts and collMod
	// is refused: errors.As finds only the first server error.
	joined := errors.Join(conflict, denied)
	cases := []struct {
		name  string
		err   error
		codes []int
		want  bool
	}{
		{"nil", nil, []int{Unauthorized}, false},
		{"not a server error", context.DeadlineExceeded, []int{Unauthorized}, false},
		{"itself", denied, []int{Unauthorized}, true},
		{"another code", denied, []int{IndexOptionsConflict, NotImplemented}, false},
		{"one of several codes", denied, []int{NotImplemented, Unauthorized}, true},
		{"no codes", denied, nil, false},
		{"wrapped", fmt.Errorf("creating the TTL index: %w", denied), []int{Unauthorized}, true},
		{"a write error", fmt.Errorf("update: %w", writeErr), []int{TypeMismatch}, true},
		{"joined, first", joined, []int{IndexOptionsConflict}, true},
		{"joined, second", joined, []int{Unauthorized}, true},
		{"joined, neither", joined, []int{NotImplemented}, false},
		{"joined and wrapped", fmt.Errorf("op: %w", joined), []int{Unauthorized}, true},
		{"several %w", fmt.Errorf("%w; %w", conflict, fmt.Errorf("collMod: %w", denied)), []int{Unauthorized}, true},
		{"joined in joined", errors.Join(context.Canceled, errors.Join(conflict, denied)), []int{Unauthorized}, true},
		{"joined without server errors", errors.Join(context.Canceled, errors.New("x")), []int{Unauthorized}, false},
	}
	for _, c := range cases {
		if got := Has(c.err, c.codes...); got != c.want {
			t.Errorf("%s: Has(%v, %v) = %v; want %v", c.name, c.err, c.codes, got, c.want)
		}
	}
}

func TestTransient(t *testing.T) {
	stepDown := mongo.CommandError{Code: 189, Name: "PrimarySteppedDown"}
	if !Transient(errors.Join(mongo.CommandError{Code: IndexOptionsConflict}, stepDown)) {
		t.Error("Transient misses a step-down behind another server error")
	}
	if Transient(mongo.CommandError{Code: Unauthorized}) {
		t.Error("Transient(Unauthorized) = true")
	}
}

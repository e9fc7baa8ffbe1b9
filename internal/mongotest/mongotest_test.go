package mongotest

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"
)

func TestWithDatabase(t *testing.T) {
	cases := []struct{ in, want string }{
		{"mongodb://h:1", "mongodb://h:1/x"},
		{"mongodb://h:1/", "mongodb://h:1/x"},
		{"mongodb://h:1/app", "mongodb://h:1/x"},
		{"mongodb://h:1,g:2/app?replicaSet=rs&w=majority", "mongodb://h:1,g:2/x?replicaSet=rs&w=majority"},
		{"mongodb://h:1/?directConnection=true", "mongodb://h:1/x?directConnection=true"},
		{"mongodb://u:p%2F%3F@h:1", "mongodb://u:p%2F%3F@h:1/x?authSource=admin"},
		{"mongodb://u:p@h:1/app", "mongodb://u:p@h:1/x?authSource=app"},
		{"mongodb://u:p@h:1/app?tls=true", "mongodb://u:p@h:1/x?tls=true&authSource=app"},
		{"mongodb://u:p@h:1/app?authSource=other", "mongodb://u:p@h:1/x?authSource=other"},
		{"mongodb://CN=me@h:1/app?authMechanism=MONGODB-X509", "mongodb://CN=me@h:1/x?authMechanism=MONGODB-X509&authSource=%24external"},
	}
	for _, c := range cases {
		got, err := WithDatabase(c.in, "x")
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("withDatabase(%q) = %q; want %q", c.in, got, c.want)
		}
		cs, err := connstring.ParseAndValidate(got)
		if err != nil || cs.Database != "x" {
			t.Errorf("withDatabase(%q) = %q: database %q, %v; want x", c.in, got, cs.Database, err)
		}
	}
}

package robustness

import (
	"errors"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"
)

// TestTargetURI proves that the apps reach the server through the proxy
// with what MONGODB_URI gives them: the proxy dials the URI's host (port
// 27017 where it names none), and the apps' URI is the original with the
// proxy as its host, credentials, authSource, database and options kept,
// and a direct connection. The driver's own parser reads the result.
func TestTargetURI(t *testing.T) {
	const proxy = "127.0.0.1:40001"
	for _, tc := range []struct {
		uri, backend, app string
		user, pass        string
		authSource, db    string
		appName, rs       string
	}{
		{
			uri:     "mongodb://sessions:p%40ss%2Fw0rd@db.example.com:27018/?authSource=admin&w=majority",
			backend: "db.example.com:27018",
			app:     "mongodb://sessions:p%40ss%2Fw0rd@127.0.0.1:40001/?authSource=admin&w=majority&directConnection=true",
			user:    "sessions", pass: "p@ss/w0rd", authSource: "admin",
		},
		{ // no port: the driver's default, which the proxy must dial
			uri:     "mongodb://localhost",
			backend: "localhost:27017",
			app:     "mongodb://127.0.0.1:40001/?directConnection=true",
		},
		{ // a user named like the host: only the host is replaced
			uri:     "mongodb://localhost:secret@localhost/sessions?appName=robust",
			backend: "localhost:27017",
			app:     "mongodb://localhost:secret@127.0.0.1:40001/sessions?appName=robust&directConnection=true",
			user:    "localhost", pass: "secret", authSource: "sessions", db: "sessions", appName: "robust",
		},
		{ // IPv6, no port; a directConnection=false is replaced, not contradicted
			uri:     "mongodb://[::1]/?directConnection=false&appName=x",
			backend: "[::1]:27017",
			app:     "mongodb://127.0.0.1:40001/?appName=x&directConnection=true",
			appName: "x",
		},
		{ // one member of a replica set, named as such
			uri:     "mongodb://u:p@[fd00::5]:27019/admin?replicaSet=rs0&authMechanism=SCRAM-SHA-256",
			backend: "[fd00::5]:27019",
			app:     "mongodb://u:p@127.0.0.1:40001/admin?replicaSet=rs0&authMechanism=SCRAM-SHA-256&directConnection=true",
			user:    "u", pass: "p", authSource: "admin", db: "admin", rs: "rs0",
		},
	} {
		tgt, err := parseTarget(tc.uri)
		if err != nil {
			t.Errorf("%s: %v", tc.uri, err)
			continue
		}
		if tgt.Backend != tc.backend {
			t.Errorf("%s: the proxy dials %q, want %q", tc.uri, tgt.Backend, tc.backend)
		}
		app := tgt.appURI(proxy)
		if app != tc.app {
			t.Errorf("%s: the apps connect with\n%s\nwant\n%s", tc.uri, app, tc.app)
		}
		cs, err := connstring.ParseAndValidate(app)
		if err != nil {
			t.Errorf("%s: the driver refuses the apps' URI %s: %v", tc.uri, app, err)
			continue
		}
		if len(cs.Hosts) != 1 || cs.Hosts[0] != proxy || !cs.DirectConnection {
			t.Errorf("%s: the driver reads hosts %q, directConnection %v; want the proxy alone, directly", tc.uri, cs.Hosts, cs.DirectConnection)
		}
		got := []string{cs.Username, cs.Password, cs.AuthSource, cs.Database, cs.AppName, cs.ReplicaSet}
		want := []string{tc.user, tc.pass, tc.authSource, tc.db, tc.appName, tc.rs}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s: the driver reads user|password|authSource|database|appName|replicaSet %q, want %q", tc.uri, got, want)
		}
	}
}

// TestTargetNotProxiable: what one proxy cannot stand in front of is
// refused with ErrNotProxiable and a reason (the test then skips); a
// malformed URI is an error of its own (the test fails).
func TestTargetNotProxiable(t *testing.T) {
	for _, tc := range []struct{ uri, why string }{
		{"mongodb://a.example.com:27017,b.example.com:27017/?replicaSet=rs0", "several hosts"},
		{"mongodb+srv://u:p@cluster0.example.net/", "DNS seed list"},
		{"mongodb://db.example.com/?tls=true", "TLS"},
		{"mongodb://db.example.com/?ssl=true", "TLS"},
		{"mongodb://lb.example.com/?loadBalanced=true", "load balancer"},
		{"mongodb://%2Ftmp%2Fmongodb-27017.sock", "Unix socket"},
	} {
		_, err := parseTarget(tc.uri)
		if !errors.Is(err, ErrNotProxiable) || !strings.Contains(err.Error(), tc.why) {
			t.Errorf("%s: %v; want ErrNotProxiable saying %q", tc.uri, err, tc.why)
		}
	}
	for _, uri := range []string{"mongodb://db.example.com?w=1", "http://db.example.com/", "mongodb://"} {
		if _, err := parseTarget(uri); err == nil || errors.Is(err, ErrNotProxiable) {
			t.Errorf("%s: %v; want an error other than ErrNotProxiable", uri, err)
		}
	}
}

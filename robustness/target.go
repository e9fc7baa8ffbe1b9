package robustness

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"
)

// target is the server a run puts its proxy in front of, read from a
// connection string: the one host the proxy dials, and the rest of the
// string (credentials, database, options), which the apps keep.
type target struct {
	// Backend is the server's host:port (port 27017 where the string
	// names none), which the proxy dials.
	Backend string

	userinfo string // "user:password@" as written, or ""
	rest     string // the path and query after the host, as written
}

// ErrNotProxiable is wrapped by parseTarget's error when the connection
// string names a deployment that one TCP proxy reading the wire protocol
// cannot stand in front of: the error says why. It is a limitation of the
// harness, not of the server.
var ErrNotProxiable = errors.New("the harness's proxy cannot stand in front of this server")

// parseTarget reads uri. A malformed uri is an error; one that names
// several hosts, a DNS seed list (mongodb+srv), TLS, a load balancer or a
// Unix socket is an error wrapping ErrNotProxiable, saying why.
func parseTarget(uri string) (target, error) {
	notProxiable := func(why string) (target, error) {
		return target{}, fmt.Errorf("%w: %s", ErrNotProxiable, why)
	}
	if strings.HasPrefix(strings.ToLower(uri), connstring.SchemeMongoDBSRV+"://") {
		return notProxiable("the URI is a DNS seed list (mongodb+srv), which names a replica set or a sharded cluster " +
			"and implies TLS: the driver would reach every member at its own address, around the proxy")
	}
	cs, err := connstring.ParseAndValidate(uri)
	if err != nil {
		return target{}, err
	}
	if !strings.HasPrefix(uri, connstring.SchemeMongoDB+"://") {
		return target{}, errors.New("the URI does not begin with mongodb://")
	}
	switch {
	case len(cs.Hosts) != 1:
		return notProxiable("the URI names several hosts (a replica set's or mongoses' seed list): the harness has one " +
			"proxy for one server, and a driver discovering the deployment would reach its members at their own " +
			"addresses, around the proxy; name the primary (or one mongos) alone to run it")
	case cs.SSL:
		return notProxiable("the URI asks for TLS: the proxy reads the wire protocol, to inject faults between commands " +
			"and to send one at a time, and TLS hides it (the server's certificate would not name the proxy either)")
	case cs.LoadBalanced:
		return notProxiable("the URI names a load balancer (loadBalanced=true), which a direct connection through " +
			"the proxy cannot stand for")
	case strings.HasSuffix(cs.Hosts[0], ".sock"):
		return notProxiable("the URI names a Unix socket; the proxy dials TCP")
	}

	// The connection string spec has the user information percent-encode
	// '/', '?' and '@', so the host list ends at the first '/' or '?',
	// and the user information at the last '@' before it.
	after := uri[len(connstring.SchemeMongoDB+"://"):]
	end := strings.IndexAny(after, "/?")
	if end < 0 {
		end = len(after)
	}
	t := target{rest: after[end:]}
	if at := strings.LastIndex(after[:end], "@"); at >= 0 {
		t.userinfo = after[:at+1]
	}
	t.Backend = cs.Hosts[0]
	if _, _, err := net.SplitHostPort(t.Backend); err != nil {
		// no port: the driver's default ("[::1]" stays bracketed)
		t.Backend = net.JoinHostPort(strings.Trim(t.Backend, "[]"), "27017")
	}
	return t, nil
}

// appURI is the connection string the apps use: the original with its
// host replaced by addr (the proxy), its credentials, database and
// options kept, and directConnection=true (replacing any the string had),
// so that the driver talks to the proxy only and never discovers the
// server's own address.
func (t target) appURI(addr string) string {
	path, query, _ := strings.Cut(t.rest, "?")
	if path == "" {
		path = "/"
	}
	var opts []string
	for _, o := range strings.Split(query, "&") {
		k, _, _ := strings.Cut(o, "=")
		if o != "" && !strings.EqualFold(k, "directConnection") {
			opts = append(opts, o)
		}
	}
	opts = append(opts, "directConnection=true")
	return connstring.SchemeMongoDB + "://" + t.userinfo + addr + path + "?" + strings.Join(opts, "&")
}

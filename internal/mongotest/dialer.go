package mongotest

import (
	"context"
	"errors"
	"net"
	"sync"
)

// SwitchDialer is a driver dialer (options.Client().SetDialer) that a test
// switches off and on: while down it refuses to dial, and SetDown closes
// every connection it made, as a server that went away would; SetUp lets
// it dial again. The server itself keeps running, so the outage is the
// client's alone.
type SwitchDialer struct {
	mu    sync.Mutex
	down  bool
	conns []net.Conn
}

// DialContext dials addr unless the dialer is down.
func (d *SwitchDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.down {
		return nil, errors.New("mongotest.SwitchDialer: server is down")
	}
	var nd net.Dialer
	c, err := nd.DialContext(ctx, network, addr)
	if err == nil {
		d.conns = append(d.conns, c)
	}
	return c, err
}

// SetDown closes every connection made so far and refuses new ones.
func (d *SwitchDialer) SetDown() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.down = true
	for _, c := range d.conns {
		_ = c.Close()
	}
	d.conns = nil
}

// SetUp lets the dialer dial again.
func (d *SwitchDialer) SetUp() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.down = false
}

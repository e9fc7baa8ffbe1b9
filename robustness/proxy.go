package robustness

import (
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// proxy is a TCP proxy between the apps and the database server that the
// harness controls: it adds latency, stalls connections, cuts them, and
// refuses to connect while the server is "down".
//
// With serialize, it forwards one command at a time to the server (every
// connection's next command waits until the command before it, from any
// connection, has been answered). The test server, FerretDB 1.24, applies
// an update as a read and a write without a lock, so two commands on one
// document at once can lose one of them; serialized, each command is
// atomic, as a single-document command is on MongoDB. Application-level
// races (two requests each doing a find and then an update) still
// interleave freely, command by command.
type proxy struct {
	ln        net.Listener
	serialize bool

	mu      sync.Mutex
	backend string
	down    bool
	latency time.Duration
	stalled chan struct{} // closed when the current stall ends; nil: none
	conns   map[*pconn]struct{}

	serial chan struct{} // the one command at a server, when serialize
	wg     sync.WaitGroup
}

func newProxy(backend string, serialize bool) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{ln: ln, backend: backend, serialize: serialize,
		conns: map[*pconn]struct{}{}, serial: make(chan struct{}, 1)}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the address the apps connect to.
func (p *proxy) Addr() string { return p.ln.Addr().String() }

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down, backend := p.down, p.backend
		p.mu.Unlock()
		if down {
			_ = c.Close()
			continue
		}
		s, err := net.DialTimeout("tcp", backend, 5*time.Second)
		if err != nil {
			_ = c.Close()
			continue
		}
		pc := &pconn{p: p, client: c, server: s}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			_ = c.Close()
			_ = s.Close()
			continue
		}
		p.conns[pc] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		if p.serialize {
			go pc.requests()
			go pc.replies()
		} else {
			go pc.pipe(c, s)
			go pc.pipe(s, c)
		}
	}
}

// Close stops the proxy and every connection through it.
func (p *proxy) Close() {
	_ = p.ln.Close()
	p.cutAll()
	p.wg.Wait()
}

// SetLatency makes every forwarded chunk (or command) wait up to d.
func (p *proxy) SetLatency(d time.Duration) {
	p.mu.Lock()
	p.latency = d
	p.mu.Unlock()
}

// Stall holds every connection's traffic towards the server for d.
func (p *proxy) Stall(d time.Duration) {
	p.mu.Lock()
	if p.stalled == nil {
		ch := make(chan struct{})
		p.stalled = ch
		time.AfterFunc(d, func() {
			p.mu.Lock()
			p.stalled = nil
			p.mu.Unlock()
			close(ch)
		})
	}
	p.mu.Unlock()
}

// CutOne cuts one connection chosen with r; CutAll every one.
func (p *proxy) CutOne(r *rand.Rand) {
	p.mu.Lock()
	var all []*pconn
	for pc := range p.conns {
		all = append(all, pc)
	}
	p.mu.Unlock()
	if len(all) > 0 {
		all[r.IntN(len(all))].cut()
	}
}

func (p *proxy) cutAll() {
	p.mu.Lock()
	all := make([]*pconn, 0, len(p.conns))
	for pc := range p.conns {
		all = append(all, pc)
	}
	p.mu.Unlock()
	for _, pc := range all {
		pc.cut()
	}
}

// SetDown refuses new connections and cuts every open one (down), or lets
// them through again.
func (p *proxy) SetDown(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
	if down {
		p.cutAll()
	}
}

// wait blocks while the proxy is stalled, then sleeps the latency.
func (p *proxy) wait() {
	p.mu.Lock()
	st, lat := p.stalled, p.latency
	p.mu.Unlock()
	if st != nil {
		<-st
	}
	if lat > 0 {
		time.Sleep(rand.N(lat))
	}
}

// pconn is one proxied connection.
type pconn struct {
	p              *proxy
	client, server net.Conn

	mu       sync.Mutex
	awaiting int32 // requestID of the command holding p.serial; 0: none
	closing  bool
	once     sync.Once
}

// cut closes the client's side at once. The server's side is closed too,
// unless a serialized command is at the server: then only once its reply
// came (and was dropped), so that the server never runs two commands at
// once.
func (pc *pconn) cut() {
	_ = pc.client.Close()
	pc.mu.Lock()
	pc.closing = true
	awaiting := pc.awaiting != 0
	pc.mu.Unlock()
	if !awaiting {
		pc.closeServer()
	}
}

func (pc *pconn) closeServer() {
	pc.once.Do(func() {
		_ = pc.server.Close()
		pc.p.mu.Lock()
		delete(pc.p.conns, pc)
		pc.p.mu.Unlock()
	})
}

func (pc *pconn) pipe(from, to net.Conn) {
	defer pc.p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if n > 0 {
			pc.p.wait()
			if _, werr := to.Write(buf[:n]); werr != nil {
				err = werr
			}
		}
		if err != nil {
			_ = pc.client.Close()
			pc.closeServer()
			return
		}
	}
}

// readMessage reads one wire-protocol message.
func readMessage(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int(binary.LittleEndian.Uint32(hdr[:]))
	if n < 16 || n > 64<<20 {
		return nil, errors.New("proxy: bad message length")
	}
	msg := make([]byte, n)
	copy(msg, hdr[:])
	_, err := io.ReadFull(r, msg[4:])
	return msg, err
}

const opMsg = 2013

// serialized reports whether msg is a command that takes the server's one
// slot: an OP_MSG expecting a reply, other than the handshakes and
// heartbeats (a streaming heartbeat waits for seconds).
func serialized(msg []byte) bool {
	if binary.LittleEndian.Uint32(msg[12:16]) != opMsg || len(msg) < 26 {
		return false
	}
	if binary.LittleEndian.Uint32(msg[16:20])&2 != 0 { // moreToCome: no reply
		return false
	}
	if msg[20] != 0 { // the body section comes first
		return false
	}
	doc := bson.Raw(msg[21:])
	elems, err := doc.Elements()
	if err != nil || len(elems) == 0 {
		return false
	}
	switch elems[0].Key() {
	case "hello", "isMaster", "ismaster", "ping", "buildInfo", "saslStart", "saslContinue", "endSessions":
		return false
	}
	return true
}

// requests forwards the client's messages, one serialized command at a
// server at a time.
func (pc *pconn) requests() {
	defer pc.p.wg.Done()
	for {
		msg, err := readMessage(pc.client)
		if err != nil {
			pc.mu.Lock()
			pc.closing = true
			awaiting := pc.awaiting != 0
			pc.mu.Unlock()
			_ = pc.client.Close()
			if !awaiting {
				pc.closeServer()
			}
			return
		}
		pc.p.wait()
		if serialized(msg) {
			pc.p.serial <- struct{}{}
			pc.mu.Lock()
			if pc.closing {
				pc.mu.Unlock()
				<-pc.p.serial
				pc.closeServer()
				return
			}
			pc.awaiting = int32(binary.LittleEndian.Uint32(msg[4:8]))
			pc.mu.Unlock()
		}
		if _, err := pc.server.Write(msg); err != nil {
			pc.release()
			_ = pc.client.Close()
			pc.closeServer()
			return
		}
	}
}

// release frees the server's slot if this connection holds it.
func (pc *pconn) release() {
	pc.mu.Lock()
	held := pc.awaiting != 0
	pc.awaiting = 0
	pc.mu.Unlock()
	if held {
		<-pc.p.serial
	}
}

// replies forwards the server's messages and frees the slot on the reply
// to the serialized command.
func (pc *pconn) replies() {
	defer pc.p.wg.Done()
	for {
		msg, err := readMessage(pc.server)
		if err != nil {
			pc.release()
			_ = pc.client.Close()
			pc.closeServer()
			return
		}
		pc.mu.Lock()
		isReply := pc.awaiting != 0 && int32(binary.LittleEndian.Uint32(msg[8:12])) == pc.awaiting
		closing := pc.closing
		pc.mu.Unlock()
		if isReply {
			pc.release()
		}
		if closing {
			if isReply {
				pc.closeServer()
				return
			}
			continue
		}
		if _, err := pc.client.Write(msg); err != nil {
			// the client went away: its next read fails and cleans up
			continue
		}
	}
}

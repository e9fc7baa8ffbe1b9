package mongotest

import (
	"bytes"
	"context"
	"slices"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
)

// Command is one command a client sent: its name and a copy of its body.
type Command struct {
	Name string
	Body bson.Raw
}

// Commands records the commands a client sends, in order, so that tests
// can prove what goes over the wire. Attach it with Monitor (or use
// Started as an event.CommandMonitor's Started). Which commands it keeps
// is chosen when it is made: the zero value keeps every command but
// handshakes and heartbeats; DataCommands keeps the data commands only;
// CollectionCommands keeps the commands on one collection only. It is
// safe for concurrent use.
type Commands struct {
	keep func(*event.CommandStartedEvent) bool // nil: all but handshakes

	mu   sync.Mutex
	cmds []Command
}

// DataCommands returns a Commands that keeps only the data commands
// (find, update, delete, insert, getMore, aggregate, count and
// findAndModify), leaving out handshakes, heartbeats, index builds and
// every other administrative command.
func DataCommands() *Commands {
	return &Commands{keep: func(e *event.CommandStartedEvent) bool {
		switch e.CommandName {
		case "find", "update", "delete", "insert", "getMore", "aggregate", "count", "findAndModify":
			return true
		}
		return false
	}}
}

// CollectionCommands returns a Commands that keeps only the commands whose
// first element names the collection coll; commands on other collections,
// commands on none and handshakes are left out.
func CollectionCommands(coll string) *Commands {
	return &Commands{keep: func(e *event.CommandStartedEvent) bool {
		s, ok := e.Command.Lookup(e.CommandName).StringValueOK()
		return ok && s == coll
	}}
}

// handshake reports whether name is a command of a connection handshake or
// a heartbeat rather than an operation.
func handshake(name string) bool {
	switch name {
	case "hello", "isMaster", "ismaster", "ping", "endSessions", "saslStart", "saslContinue", "buildInfo":
		return true
	}
	return false
}

// Started records e, with a copy of its body, if c keeps it.
func (c *Commands) Started(_ context.Context, e *event.CommandStartedEvent) {
	if c.keep == nil && handshake(e.CommandName) || c.keep != nil && !c.keep(e) {
		return
	}
	c.mu.Lock()
	c.cmds = append(c.cmds, Command{Name: e.CommandName, Body: bytes.Clone(e.Command)})
	c.mu.Unlock()
}

// Monitor returns a command monitor that records into c, for
// options.ClientOptions.SetMonitor.
func (c *Commands) Monitor() *event.CommandMonitor {
	return &event.CommandMonitor{Started: c.Started}
}

// All returns a copy of the commands recorded since the last Take or
// Reset, nil if none.
func (c *Commands) All() []Command {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.cmds)
}

// Names returns the names of the commands recorded since the last Take or
// Reset, in order; an empty slice if none.
func (c *Commands) Names() []string {
	return names(c.All())
}

// Take returns the commands recorded since the last Take or Reset (nil if
// none) and forgets them.
func (c *Commands) Take() []Command {
	c.mu.Lock()
	defer c.mu.Unlock()
	cmds := c.cmds
	c.cmds = nil
	return cmds
}

// TakeNames is Take returning the commands' names only; nil if none.
func (c *Commands) TakeNames() []string {
	cmds := c.Take()
	if cmds == nil {
		return nil
	}
	return names(cmds)
}

// Reset forgets the commands recorded so far.
func (c *Commands) Reset() { c.Take() }

func names(cmds []Command) []string {
	out := make([]string, len(cmds))
	for i, cmd := range cmds {
		out[i] = cmd.Name
	}
	return out
}

package wsconn

import (
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/crawlhub/crawlhub/wsapi"
)

var frameRoom [maxFrameHeader]byte

// framePool holds the buffers of coalesced frames (up to MaxFrameOut).
var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// signal makes sure a writer runs to write what is queued, ping, or close.
func (c *Conn) signal() {
	c.mu.Lock()
	start := !c.writing
	c.writing = true
	c.mu.Unlock()
	if start {
		go c.write()
	}
}

// write is the only writer of the connection while it runs (signal starts
// it; one at a time). It sends the queued messages, several at once as one
// JSON array frame when the client is behind, pings when the ping timer
// said so, and closes the connection when told to or when the owner's
// context ends. With nothing left to do it returns: an idle connection
// costs no goroutine stack for its writer.
func (c *Conn) write() {
	for {
		c.mu.Lock()
		switch {
		case c.closing:
			code, text := c.closeCode, c.closeText
			c.mu.Unlock()
			c.finish(code, text, c.cfg.WriteWait)
			return
		case c.ctx.Err() != nil:
			c.mu.Unlock()
			c.finish(wsapi.CloseGoingAway, "server shutting down", time.Second)
			return
		case c.pingDue:
			c.pingDue = false
			c.mu.Unlock()
			if err := c.writeFrame(pingFrame); err != nil {
				c.finish(0, "", 0)
				return
			}
			c.ping.Reset(c.cfg.PingPeriod)
			continue
		case c.pongDue:
			c.pongDue = false
			f := controlFrame(opPong, c.pongData)
			c.mu.Unlock()
			if err := c.writeFrame(f); err != nil {
				c.finish(0, "", 0)
				return
			}
			continue
		case c.queue.empty():
			if c.flushDue {
				c.flushDue = false
				c.mu.Unlock()
				if err := c.writeFrame(nil); err != nil {
					c.finish(0, "", 0)
					return
				}
				continue
			}
			c.writing = false
			c.mu.Unlock()
			return
		}
		c.flushDue = false // writeFrame finishes what is pending first
		batch := c.queue.take()
		c.mu.Unlock()
		select {
		case c.room <- struct{}{}:
		default:
		}

		var out []byte
		var frame *[]byte
		if len(batch) == 1 {
			out = batch[0]
		} else {
			// A pooled buffer: a client that once caught up on a burst
			// does not keep a frame's worth of memory while idle.
			frame = framePool.Get().(*[]byte)
			// Room for the header in front, written once the length is
			// known.
			out = append((*frame)[:0], frameRoom[:]...)
			out = append(out, '[')
			for i, f := range batch {
				if i > 0 {
					out = append(out, ',')
				}
				p := FramePayload(f)
				if len(p) > 1 && p[0] == '[' { // already an array (a sender's coalesced frame): its elements
					p = p[1 : len(p)-1]
				}
				out = append(out, p...)
			}
			out = append(out, ']')
			*frame = out
			var hb [maxFrameHeader]byte
			h := appendFrameHeader(hb[:0], opText, len(out)-maxFrameHeader)
			out = out[maxFrameHeader-len(h):]
			copy(out, h)
		}
		err := c.writeFrame(out)
		if frame != nil {
			framePool.Put(frame)
		}
		if err != nil {
			c.finish(0, "", 0)
			return
		}
	}
}

// writeFrame writes f (after what a non-blocking write left unfinished).
// A write that blocks for half the write deadline means the client
// stopped reading (its socket buffers are full): it is too slow even if
// its queue has room. The blocked write may still finish if the client
// reads again, and then it gets the 4008 close; if not, the deadline ends
// the connection. Only the writer calls it.
func (c *Conn) writeFrame(f []byte) error {
	if c.stalled == nil {
		c.stalled = time.AfterFunc(c.cfg.WriteWait/2, c.tooSlow)
	} else {
		c.stalled.Reset(c.cfg.WriteWait / 2)
	}
	err := c.out.writeFrame(f, time.Now().Add(c.cfg.WriteWait))
	c.stalled.Stop()
	return err
}

// finish sends a close frame (unless code is 0: the connection failed),
// closes the connection, which ends Read too, and releases the
// connection's timers. No writer runs after it.
func (c *Conn) finish(code int, text string, wait time.Duration) {
	if code != 0 {
		_ = c.out.writeFrame(controlFrame(opClose, websocket.FormatCloseMessage(code, text)), time.Now().Add(wait))
	}
	c.ws.Close()
	c.stopCtx()
	c.ping.Stop()
	if c.stalled != nil {
		c.stalled.Stop()
	}
	c.mu.Lock()
	// writing stays true: signal starts no writer. Nothing more is queued.
	c.closing = true
	c.queue.reset()
	c.mu.Unlock()
	c.onClose()
}

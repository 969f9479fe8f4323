package wsconn

import "encoding/binary"

// Frames the package writes itself (see the package doc): server frames
// are not masked, so a frame's bytes are the same for every client and a
// message going to many is framed once.

const (
	opText  = 0x1
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xa

	maxFrameHeader = 10 // unmasked: 2, 4 or 10 bytes
)

// MaxFrameOut bounds a frame of coalesced messages, so clients with the
// usual 1 MiB read limits (Python's websockets) can take it. A single
// message larger than this still goes out alone.
const MaxFrameOut = 512 << 10

// TextFrame returns msg as one unmasked text frame, ready for Enqueue.
func TextFrame(msg []byte) []byte {
	f := make([]byte, 0, maxFrameHeader+len(msg))
	f = appendFrameHeader(f, opText, len(msg))
	return append(f, msg...)
}

// appendFrameHeader appends the header of a final, unmasked frame with n
// bytes of payload.
func appendFrameHeader(dst []byte, op byte, n int) []byte {
	switch {
	case n <= 125:
		return append(dst, 0x80|op, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(dst, 0x80|op, 126), uint16(n))
	default:
		return binary.BigEndian.AppendUint64(append(dst, 0x80|op, 127), uint64(n))
	}
}

// FramePayload is the message a frame made by TextFrame carries.
func FramePayload(f []byte) []byte {
	switch f[1] & 0x7f {
	case 126:
		return f[4:]
	case 127:
		return f[10:]
	default:
		return f[2:]
	}
}

// controlFrame returns a control frame (ping, close) with its payload,
// cut to the 125 bytes control frames may carry.
func controlFrame(op byte, payload []byte) []byte {
	payload = payload[:min(len(payload), 125)]
	return append(appendFrameHeader(make([]byte, 0, 2+len(payload)), op, len(payload)), payload...)
}

var pingFrame = controlFrame(opPing, nil)

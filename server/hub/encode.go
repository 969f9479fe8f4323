package hub

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/crawlhub/crawlhub/server/hub/internal/wsconn"
	"github.com/crawlhub/crawlhub/wire"
	"github.com/crawlhub/crawlhub/wsapi"
)

// Log notifications are most of what the hub sends, and encoding/json
// spends most of its time on reflection and on validating what it has
// just written. These write the same bytes as
// encodePublish(channel, wsapi.LogData{From: from, Lines: lines}) directly
// (TestAppendLogPublish holds them to it).

// appendLogPublish appends the notification of lines from, from+1, … on
// channel.
func appendLogPublish(dst []byte, channel string, from int64, lines []string) []byte {
	dst = appendLogHead(dst, channel, from)
	if lines == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i, l := range lines {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, l)
		}
		dst = append(dst, ']')
	}
	return append(dst, "}}}"...)
}

// appendLogPublishRaw is appendLogPublish with the lines already encoded
// as a JSON array (as they came from the agent).
func appendLogPublishRaw(dst []byte, channel string, from int64, rawLines []byte) []byte {
	dst = appendLogHead(dst, channel, from)
	dst = append(dst, rawLines...)
	return append(dst, "}}}"...)
}

func appendLogHead(dst []byte, channel string, from int64) []byte {
	dst = append(dst, `{"jsonrpc":"2.0","method":"`+wsapi.MethodPublish+`","params":{"channel":`...)
	dst = appendJSONString(dst, channel)
	dst = append(dst, `,"data":{"from":`...)
	dst = strconv.AppendInt(dst, from, 10)
	return append(dst, `,"lines":`...)
}

const hexDigits = "0123456789abcdef"

// safeASCII marks the bytes encoding/json writes as they are (with its
// default HTML escaping: <, > and & are escaped too).
var safeASCII = func() (t [utf8.RuneSelf]bool) {
	for i := 0x20; i < utf8.RuneSelf; i++ {
		t[i] = true
	}
	for _, c := range `"\<>&` {
		t[c] = false
	}
	return t
}()

// appendJSONString appends s as a JSON string, exactly as encoding/json
// does: invalid UTF-8 becomes U+FFFD, and <, >, &, U+2028 and U+2029 are
// escaped.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if safeASCII[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// liveBatch is a log batch from the bus. Its lines stay as the agent
// encoded them (a JSON array) unless a subscription needs them one by one:
// one that is in step with the stream (nearly all of them) gets the
// notification built once from the raw array, so a batch costs one
// validating scan instead of decoding and encoding every line.
type liveBatch struct {
	b    wire.LogBatch // Lines is nil until lines() decodes them
	n    int           // how many lines
	raw  []byte        // the lines as a JSON array of strings; nil once decoded
	full []byte        // the notification for subscribers in step, framed
}

func decodeLiveBatch(payload []byte) (*liveBatch, error) {
	if lb, ok := parseLogBatch(payload); ok {
		return lb, nil
	}
	// Not as wire writes it, or lines to sanitise: decode as before.
	lb := &liveBatch{}
	if err := json.Unmarshal(payload, &lb.b); err != nil {
		return nil, err
	}
	lb.n = len(lb.b.Lines)
	return lb, nil
}

// parseLogBatch reads a wire.LogBatch object without decoding its lines:
// it checks that they are a JSON array of strings that can go to clients
// as they are (valid UTF-8, no control characters, valid escapes) and
// counts them. Anything unusual (an unknown field, an escape in the task
// id) reports false, and decodeLiveBatch falls back on encoding/json.
func parseLogBatch(b []byte) (*liveBatch, bool) {
	lb := &liveBatch{}
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return nil, false // no task: let the decoder say what is wrong
	}
	for {
		key, j, ok := plainString(b, i)
		if !ok {
			return nil, false
		}
		i = skipSpace(b, j)
		if i >= len(b) || b[i] != ':' {
			return nil, false
		}
		i = skipSpace(b, i+1)
		switch key {
		case "task_id", "status":
			v, j, ok := plainString(b, i)
			if !ok {
				return nil, false
			}
			if key == "task_id" {
				lb.b.TaskID = v
			} else {
				lb.b.Status = v
			}
			i = j
		case "from", "total":
			j := i
			if j < len(b) && b[j] == '-' {
				j++
			}
			for j < len(b) && b[j] >= '0' && b[j] <= '9' {
				j++
			}
			digits := b[i:j]
			if len(digits) > 0 && digits[0] == '-' {
				digits = digits[1:]
			}
			if len(digits) > 1 && digits[0] == '0' { // JSON has no leading zeros
				return nil, false
			}
			v, err := strconv.ParseInt(string(b[i:j]), 10, 64)
			if err != nil || (j < len(b) && (b[j] == '.' || b[j] == 'e' || b[j] == 'E')) {
				return nil, false
			}
			if key == "from" {
				lb.b.From = v
			} else {
				lb.b.Total = v
			}
			i = j
		case "end":
			switch {
			case len(b)-i >= 4 && string(b[i:i+4]) == "true":
				lb.b.End, i = true, i+4
			case len(b)-i >= 5 && string(b[i:i+5]) == "false":
				lb.b.End, i = false, i+5
			default:
				return nil, false
			}
		case "lines":
			if len(b)-i >= 4 && string(b[i:i+4]) == "null" {
				lb.n, lb.raw, i = 0, nil, i+4
				break
			}
			n, j, ok := scanStringArray(b, i)
			if !ok {
				return nil, false
			}
			lb.n, lb.raw, i = n, b[i:j], j
		default:
			return nil, false
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return nil, false
		}
		if b[i] == '}' {
			break
		}
		if b[i] != ',' {
			return nil, false
		}
		i = skipSpace(b, i+1)
	}
	if skipSpace(b, i+1) != len(b) {
		return nil, false
	}
	return lb, true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// plainString reads a JSON string without escapes at b[i]; j is past it.
func plainString(b []byte, i int) (s string, j int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return "", 0, false
	}
	for j = i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return string(b[i+1 : j]), j + 1, true
		case c == '\\' || c < 0x20 || c >= utf8.RuneSelf:
			return "", 0, false
		}
	}
	return "", 0, false
}

// lines returns the batch with its lines decoded.
func (lb *liveBatch) batch() *wire.LogBatch {
	if lb.raw != nil {
		if err := json.Unmarshal(lb.raw, &lb.b.Lines); err != nil {
			lb.b.Lines = nil // cannot happen: scanStringArray checked them
		}
		lb.raw = nil
	}
	return &lb.b
}

// frame is the notification of the whole batch on channel, framed (see
// wsconn.TextFrame), made once.
func (lb *liveBatch) frame(channel string) []byte {
	if lb.full == nil {
		if lb.raw != nil {
			lb.full = wsconn.TextFrame(appendLogPublishRaw(make([]byte, 0, len(lb.raw)+len(channel)+80), channel, lb.b.From, lb.raw))
		} else {
			lb.full = wsconn.TextFrame(appendLogPublish(nil, channel, lb.b.From, lb.b.Lines))
		}
	}
	return lb.full
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// scanStringArray reads the JSON array of strings at b[i], returning how
// many it holds and where it ends. It reports false for anything else,
// and for strings that are not safe to send on as they are: invalid UTF-8,
// a raw control character, a malformed escape.
func scanStringArray(b []byte, i int) (n, end int, ok bool) {
	if i >= len(b) || b[i] != '[' {
		return 0, 0, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return 0, i + 1, true
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return 0, 0, false
		}
		i++
	str:
		for {
			if i >= len(b) {
				return 0, 0, false
			}
			switch c := b[i]; {
			case c == '"':
				i++
				break str
			case c == '\\':
				if i+1 >= len(b) {
					return 0, 0, false
				}
				switch b[i+1] {
				case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
					i += 2
				case 'u':
					if i+6 > len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
						return 0, 0, false
					}
					i += 6
				default:
					return 0, 0, false
				}
			case c < 0x20:
				return 0, 0, false
			case c < utf8.RuneSelf:
				i++
			default:
				r, size := utf8.DecodeRune(b[i:])
				if r == utf8.RuneError && size == 1 {
					return 0, 0, false
				}
				i += size
			}
		}
		n++
		i = skipSpace(b, i)
		if i >= len(b) {
			return 0, 0, false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case ']':
			return n, i + 1, true
		default:
			return 0, 0, false
		}
	}
}

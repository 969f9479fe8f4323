package hub

import (
	"strconv"
	"unicode/utf8"

	"github.com/crawlhub/crawlhub/wsapi"
)

// Stream notifications (a task's log lines and items) are most of what
// the hub sends, and encoding/json spends most of its time on reflection
// and on validating what it has just written. These write the same bytes
// as encodePublish(channel, wsapi.LogData{From: from, Lines: lines})
// (or wsapi.ItemsData) directly, around entries already encoded as a JSON
// array (TestAppendLogPublish holds them to it).

// appendPublish appends the notification of the entries in arr (a JSON
// array) from from on, under key ("lines" or "items").
func appendPublish(dst []byte, channel, key string, from int64, arr []byte) []byte {
	dst = append(dst, `{"jsonrpc":"2.0","method":"`+wsapi.MethodPublish+`","params":{"channel":`...)
	dst = appendJSONString(dst, channel)
	dst = append(dst, `,"data":{"from":`...)
	dst = strconv.AppendInt(dst, from, 10)
	dst = append(dst, ',', '"')
	dst = append(dst, key...)
	dst = append(dst, '"', ':')
	dst = append(dst, arr...)
	return append(dst, "}}}"...)
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

// parseLogBatch reads a wire.LogBatch object without decoding its lines:
// it checks that they are a JSON array of strings that can go to clients
// as they are (valid UTF-8, no control characters, valid escapes) and
// notes where each one is. Anything unusual (an unknown field, an escape
// in the task id) reports false, and the caller falls back on
// encoding/json.
func parseLogBatch(b []byte) (*liveBatch, bool) {
	lb := &liveBatch{}
	lb.arr = emptyArray
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
				lb.taskID = v
			} else {
				lb.status = v
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
				lb.from = v
			} else {
				lb.total = v
			}
			i = j
		case "end":
			switch {
			case len(b)-i >= 4 && string(b[i:i+4]) == "true":
				lb.end, i = true, i+4
			case len(b)-i >= 5 && string(b[i:i+5]) == "false":
				lb.end, i = false, i+5
			default:
				return nil, false
			}
		case "lines":
			if len(b)-i >= 4 && string(b[i:i+4]) == "null" {
				lb.arr, lb.spans, i = emptyArray, nil, i+4
				break
			}
			spans, j, ok := scanStringArray(b, i, lb.spans[:0])
			if !ok {
				return nil, false
			}
			// Spans are kept relative to the array.
			for k := range spans {
				spans[k].start -= i
				spans[k].end -= i
			}
			lb.arr, lb.spans, i = b[i:j], spans, j
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

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// scanStringArray reads the JSON array of strings at b[i], appending
// where each string is (in b) to spans, and returning where the array
// ends. It reports false for anything else, and for strings that are not
// safe to send on as they are: invalid UTF-8, a raw control character, a
// malformed escape.
func scanStringArray(b []byte, i int, spans []span) (_ []span, end int, ok bool) {
	if i >= len(b) || b[i] != '[' {
		return nil, 0, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return spans, i + 1, true
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return nil, 0, false
		}
		start := i
		i++
	str:
		for {
			if i >= len(b) {
				return nil, 0, false
			}
			switch c := b[i]; {
			case c == '"':
				i++
				break str
			case c == '\\':
				if i+1 >= len(b) {
					return nil, 0, false
				}
				switch b[i+1] {
				case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
					i += 2
				case 'u':
					if i+6 > len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
						return nil, 0, false
					}
					i += 6
				default:
					return nil, 0, false
				}
			case c < 0x20:
				return nil, 0, false
			case c < utf8.RuneSelf:
				i++
			default:
				r, size := utf8.DecodeRune(b[i:])
				if r == utf8.RuneError && size == 1 {
					return nil, 0, false
				}
				i += size
			}
		}
		spans = append(spans, span{start, i})
		i = skipSpace(b, i)
		if i >= len(b) {
			return nil, 0, false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case ']':
			return spans, i + 1, true
		default:
			return nil, 0, false
		}
	}
}

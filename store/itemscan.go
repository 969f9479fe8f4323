package store

import (
	"encoding/json"
	"errors"
	"unicode/utf8"
)

// Items arrive by the tens of thousands a second and every one is checked
// (PrepareItems): decoding each into a map would cost more than storing
// it. So an item is validated with json.Valid, which allocates nothing,
// and its top level walked by the small scanner below, which may assume
// valid JSON.

var errNotObject = errors.New("not a JSON object")

// eachField calls fn with each top-level key of the JSON object item and
// the raw text of its value, in order.
func eachField(item []byte, fn func(key string, val []byte) error) error {
	if !json.Valid(item) {
		return errNotObject
	}
	i := skipSpace(item, 0)
	if i >= len(item) || item[i] != '{' {
		return errNotObject
	}
	i = skipSpace(item, i+1)
	if item[i] == '}' {
		return nil
	}
	for {
		end := skipString(item, i)
		key, err := unquote(item[i:end])
		if err != nil {
			return err
		}
		i = skipSpace(item, end)
		i = skipSpace(item, i+1) // the colon
		end = skipValue(item, i)
		if err := fn(key, item[i:end]); err != nil {
			return err
		}
		i = skipSpace(item, end)
		if item[i] == '}' {
			return nil
		}
		i = skipSpace(item, i+1) // the comma
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index past the string that starts at b[i] ('"').
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// skipValue returns the index past the value that starts at b[i].
func skipValue(b []byte, i int) int {
	depth := 0
	for i < len(b) {
		switch c := b[i]; c {
		case '"':
			i = skipString(b, i)
			if depth == 0 {
				return i
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i // the end of the enclosing object
			}
			depth--
			if depth == 0 {
				return i + 1
			}
		case ',':
			if depth == 0 {
				return i
			}
		case ' ', '\t', '\n', '\r':
			if depth == 0 {
				return i
			}
		}
		i++
	}
	return i
}

// unquote returns the string the JSON string literal q stands for.
func unquote(q []byte) (string, error) {
	if plain(q) {
		return string(q[1 : len(q)-1]), nil
	}
	var s string
	err := json.Unmarshal(q, &s)
	return s, err
}

// plain reports whether the JSON string literal q has no escapes and only
// characters that json.Marshal (without HTML escaping) writes as they are:
// then q is its own canonical form.
func plain(q []byte) bool {
	for i := 1; i < len(q)-1; {
		c := q[i]
		if c < utf8.RuneSelf {
			if c == '\\' || c < 0x20 {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(q[i:])
		if r == utf8.RuneError || r == '\u2028' || r == '\u2029' {
			return false
		}
		i += n
	}
	return true
}

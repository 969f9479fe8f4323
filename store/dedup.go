package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// DedupKey returns the key deduplication compares item by, for a spider
// whose DedupKeys are keys: the JSON array of the item's values of keys,
// in order, a missing key as null (["https://…", null]). ok is false when
// there is nothing to compare (keys empty, item not a JSON object, or
// none of keys present): such an item is always new.
//
// Values are re-encoded, so two items whose values differ only in
// spacing, escapes or the order of a nested object's keys have the same
// key. Numbers keep their text: 1 and 1.0 are different keys.
func DedupKey(item json.RawMessage, keys []string) (key string, ok bool) {
	if len(keys) == 0 {
		return "", false
	}
	vals := make([][]byte, len(keys))
	if eachField(item, func(k string, v []byte) error {
		if i := slices.Index(keys, k); i >= 0 {
			vals[i] = v
		}
		return nil
	}) != nil {
		return "", false
	}
	key, ok, err := dedupKey(vals)
	return key, ok && err == nil
}

// dedupKey is the key of an item whose values of the dedup keys are vals
// (nil: missing).
func dedupKey(vals [][]byte) (string, bool, error) {
	var buf bytes.Buffer
	found := false
	buf.WriteByte('[')
	for i, v := range vals {
		if i > 0 {
			buf.WriteByte(',')
		}
		switch {
		case v == nil:
			buf.WriteString("null")
			continue
		case v[0] == '"' && plain(v), v[0] != '"' && v[0] != '{' && v[0] != '[':
			// Already as re-encoding would write it: a plain string, or a
			// number, true, false or null (numbers keep their text).
			buf.Write(v)
		default:
			dec := json.NewDecoder(bytes.NewReader(v))
			dec.UseNumber()
			var x any
			if err := dec.Decode(&x); err != nil {
				return "", false, err
			}
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false) // the key is compared, not put in a page
			if err := enc.Encode(x); err != nil {
				return "", false, err
			}
			buf.Truncate(buf.Len() - 1) // Encode ends with a newline
		}
		found = true
	}
	buf.WriteByte(']')
	if !found {
		return "", false, nil
	}
	return buf.String(), true, nil
}

// Active reports whether d deduplicates at all: it needs keys and a policy.
// A spider with keys but no policy keeps every item (DedupNone).
func (d Dedup) Active() bool { return len(d.Keys) > 0 && d.Policy != DedupNone }

// CheckDedup checks that d's policy is one the stores know.
func CheckDedup(d Dedup) error {
	switch d.Policy {
	case DedupNone, DedupIgnore, DedupOverwrite:
		return nil
	}
	return fmt.Errorf("unknown dedup policy %q: want %q or %q", d.Policy, DedupIgnore, DedupOverwrite)
}

// PrepareItems is what every store's AppendItems does first: it checks
// that from is 0 or more, that d is a known policy and that each item is
// a JSON object of at most MaxItemBytes without ReservedItemKeys, and
// returns each item's dedup key (DedupKey; "" for none, and all "" when d
// is not Active). An error names the first bad item by its number.
func PrepareItems(from int64, items []json.RawMessage, d Dedup) (keys []string, err error) {
	if from < 0 {
		return nil, errors.New("negative item number")
	}
	if err := CheckDedup(d); err != nil {
		return nil, err
	}
	keys = make([]string, len(items))
	var vals [][]byte
	if d.Active() {
		vals = make([][]byte, len(d.Keys))
	}
	for i, item := range items {
		n := from + int64(i)
		if len(item) > MaxItemBytes {
			return nil, fmt.Errorf("item %d is %d bytes, more than the %d an item may have", n, len(item), MaxItemBytes)
		}
		clear(vals)
		err := eachField(item, func(k string, v []byte) error {
			if slices.Contains(ReservedItemKeys, k) {
				return fmt.Errorf("it has the key %q, which is reserved (%q)", k, ReservedItemKeys)
			}
			if j := slices.Index(d.Keys, k); j >= 0 && vals != nil {
				vals[j] = v
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", n, err)
		}
		if vals == nil {
			continue
		}
		key, ok, err := dedupKey(vals)
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", n, err)
		}
		if ok {
			keys[i] = key
		}
	}
	return keys, nil
}

// DedupItems decides what deduplication makes of items whose keys are
// keys ("" for none), in order, given current: the keys of which the
// spider already has a current item. It returns each item's outcome and
// whether it ends current, and the keys of current whose item stops
// being current (with DedupOverwrite). Within items, a later item with
// the key of an earlier one is deduplicated against it as against a
// stored one. Both stores decide with it, so they cannot disagree.
func DedupItems(policy string, keys []string, current map[string]bool) (outcomes []string, isCurrent []bool, replaced []string) {
	outcomes = make([]string, len(keys))
	isCurrent = make([]bool, len(keys))
	last := map[string]int{} // key → the item of this batch that holds it
	for i, k := range keys {
		outcomes[i], isCurrent[i] = ItemNew, true
		if k == "" {
			continue
		}
		j, inBatch := last[k]
		held := inBatch || current[k]
		switch {
		case !held:
			last[k] = i
		case policy == DedupIgnore:
			outcomes[i], isCurrent[i] = ItemIgnored, false
		case policy == DedupOverwrite:
			outcomes[i] = ItemOverwritten
			if inBatch {
				isCurrent[j] = false
			} else {
				replaced = append(replaced, k)
			}
			last[k] = i
		}
	}
	return outcomes, isCurrent, replaced
}

// Count adds one item of outcome o to c.
func (c *ItemCounts) Count(o string) {
	switch o {
	case ItemNew:
		c.New++
	case ItemIgnored:
		c.Ignored++
	case ItemOverwritten:
		c.Overwritten++
	}
}

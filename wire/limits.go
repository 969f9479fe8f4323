package wire

import "encoding/json"

// One read of a task's log or items (a get_log or get_items reply, and
// task.log, task.items, GET /api/tasks/:id/log and …/items, which are
// served from one) is bounded twice: in entries, so that a caller asking
// for everything still gets a page, and in bytes, because a log line may
// be 64 KiB and an item 1 MiB, and ten thousand of those would be a reply
// of gigabytes. A reply crosses Redis as one PubSub message to every
// master, and Redis drops a subscriber whose output buffer passes 32 MiB
// (client-output-buffer-limit pubsub, its default hard limit) or stays
// over 8 MiB for a minute: MaxReadBytes keeps a reply well under both,
// JSON's escaping included, and under a WebSocket client's send queue
// (8 MiB by default) too.
//
// A reply short of what was asked is not the end of the stream: Total
// says how much there is, and the caller continues from From+len.
const (
	// MaxReadEntries bounds the lines (or items) of one read.
	MaxReadEntries = 10000
	// MaxReadBytes bounds the lines (or items) of one read in bytes, as
	// JSON encodes them; a single entry larger than that still goes, alone.
	MaxReadBytes = 4 << 20
)

// Lines are read first a few at a time, then in one step sized from their
// average so far, so that a page of long lines does not read thousands
// only to send a few dozen (and hold them in memory meanwhile). Lines get
// no smaller step than the rest of the page: every step is a query to the
// store, and a finished log read from MongoDB in steps of 2,048 took 1.6
// times as long (make bench, scenario 5). Items, which may be 1 MiB each,
// keep small steps.
const (
	linesFirst = 256
	linesStep  = MaxReadEntries
	itemsFirst = 16 // items may be 1 MiB each
	itemsStep  = 256
)

// ReadLines reads up to limit lines from from on with read, in steps,
// until MaxReadBytes are read, read returns fewer than asked, or limit is
// reached.
func ReadLines(from int64, limit int, read func(from int64, n int) ([]string, error)) ([]string, error) {
	return readBounded(from, limit, linesFirst, linesStep, quotedSize[string], read)
}

// ReadItems is ReadLines for items (compact JSON objects).
func ReadItems(from int64, limit int, read func(from int64, n int) ([]json.RawMessage, error)) ([]json.RawMessage, error) {
	return readBounded(from, limit, itemsFirst, itemsStep, rawSize[json.RawMessage], read)
}

func readBounded[T any](from int64, limit, first, step int, size func(T) int, read func(from int64, n int) ([]T, error)) ([]T, error) {
	out := []T{}
	total := 0
	for len(out) < limit && total < MaxReadBytes {
		n := min(first, limit)
		if len(out) > 0 {
			// As many more as fit, at the average size so far.
			avg := total/len(out) + 1
			n = min(step, limit-len(out), max(1, (MaxReadBytes-total)/avg))
		}
		got, err := read(from+int64(len(out)), n)
		if err != nil {
			return out, err
		}
		for _, e := range got {
			sz := size(e)
			if len(out) > 0 && total+sz > MaxReadBytes {
				return out, nil
			}
			out = append(out, e)
			total += sz
		}
		if len(got) < n {
			break
		}
	}
	return out, nil
}

// quotedSize is how many bytes s takes as a JSON string, as encoding/json
// writes it (HTML-safe): at most six per byte.
func quotedSize[S ~string](s S) int {
	n := 2
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			n += 2
		case c < 0x20 || c == '<' || c == '>' || c == '&':
			n += 6 // \n and friends take 2, but the bound is what matters
		default:
			n++
		}
	}
	return n
}

// rawSize is how many bytes a compact JSON value takes once
// encoding/json has made it HTML-safe.
func rawSize[B ~[]byte](b B) int {
	n := len(b)
	for _, c := range b {
		if c == '<' || c == '>' || c == '&' {
			n += 5
		}
	}
	return n
}

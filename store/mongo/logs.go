package mongo

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/crawlhub/crawlhub/store"
)

// logs keeps a task's log as chunk documents in task_logs, each holding
// the consecutive lines [from, end), with _id "<task id>:<from>". Chunks
// are immutable and only ever added at the current end of the log, so they
// tile it without holes, and the _id makes two writers appending at the
// same end collide instead of both succeeding. So the chunks of a log form
// a chain: the one after the chunk [from, end) has _id "<task id>:<end>",
// and from any chunk a reader can walk on by exact _id lookups.
//
// On FerretDB v1 every query but an exact _id lookup is a scan of the
// whole collection that decodes every document in it: with many logs
// stored, one such query takes seconds. An _id lookup is answered by
// SQLite, but not from an index either (FerretDB's query does not match
// the expression of its own _id index), so SQLite still reads and parses
// every row: far cheaper, but in proportion to the bytes of all logs
// stored. So reading, appending and LogLen use nothing but _id lookups, and
// as few as they can: a head document in task_log_heads, with the task's
// id as _id, names the last chunk someone appended and indexes the chunks
// before it (headDoc), so that a read of lines [from, to) looks up the
// chunks that hold them (all at once, see readAhead), and an append
// checks the head's chunk and inserts after it.
//
// The head is only a hint, written after the chunks it names, and racing
// writers or a DeleteLog racing an append can leave it stale or wrong:
//   - everything it names was written, but there may be more chunks after
//     its last one: an append at its end collides and walks on, LogLen
//     walks on, and a read walks on as it needs to (a reader of a stale
//     head sees the log end early, never a wrong line);
//   - it may name a chunk that is not there (DeleteLog raced an append) or
//     one that ends elsewhere: then the log is walked from its first chunk.
//
// Lines are stored packed and compressed (see pack), which makes every
// lookup on FerretDB several times cheaper.
type logs Store

type chunkDoc struct {
	ID     string `bson:"_id"`
	TaskID string `bson:"task_id"`
	From   int64  `bson:"from"`
	End    int64  `bson:"end"` // From + the number of lines
	// Packed holds the lines (see pack). Chunks written before packing
	// hold them in Lines instead, which reading still understands.
	Packed []byte   `bson:"packed,omitempty"`
	Lines  []string `bson:"lines,omitempty"`
	// unpacked caches lines(): a read ahead unpacks on its own goroutine.
	unpacked []string
}

// headDoc points at the last chunk of task ID, [From, End), and indexes
// the chunks before it: Index lists, ascending, the starts of chunks of
// the log (see encodeIndex), each at least indexEvery lines after the one
// before, so that every line is at most about indexEvery lines of chunks
// after an indexed start. A head written before indexing has no Index;
// the log is then walked from its first chunk.
type headDoc struct {
	ID    string `bson:"_id"`
	From  int64  `bson:"from"`
	End   int64  `bson:"end"`
	Index []byte `bson:"index,omitempty"`
}

func chunkID(taskID string, from int64) string { return fmt.Sprintf("%s:%012d", taskID, from) }

// Chunk limits. A document may not exceed 16 MiB; chunks stay far below so
// that reading a few lines never drags in much more than it needs.
const (
	chunkBytes   = 1 << 20               // lines per chunk until their bytes pass this…
	chunkLines   = 10_000                // …or there are this many
	maxLineBytes = store.MaxLogLineBytes // a longer line gets an error: its chunk would near the limit
	// maxPackedBytes bounds what a chunk unpacks to: a chunk holds at most
	// chunkBytes plus one line of maxLineBytes, plus length prefixes.
	maxPackedBytes = 2 * (chunkBytes + maxLineBytes)
)

// indexEvery is the spacing, in lines, of the chunk starts a head indexes:
// a log appended in pieces of indexEvery lines or more has every chunk
// indexed, and one appended line by line one chunk in indexEvery, which
// keeps the head small (a delta of a few bytes per indexed chunk) while a
// read walks past at most indexEvery lines' worth of chunks.
const indexEvery = 100

// appendRetries bounds how often AppendLog re-reads the end of the log
// after losing a race to another writer of the same log. Each lost race
// means someone else moved the end forward, so this is only a backstop.
const appendRetries = 100

func (s *logs) AppendLog(ctx context.Context, taskID string, from int64, lines []string) error {
	if err := s.appendLog(ctx, taskID, from, lines); err != nil {
		return fmt.Errorf("store: append log of task %s at line %d: %w", taskID, from, err)
	}
	return nil
}

func (s *logs) appendLog(ctx context.Context, taskID string, from int64, lines []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := store.CheckAppend(from, lines); err != nil {
		return err
	}
	for retries := 0; ; {
		// First try at the end the head names, without looking for chunks
		// after it (on FerretDB every lookup reads all logs): should there
		// be any, the insert collides, and the retry walks.
		t, err := s.tail(ctx, taskID, retries > 0)
		if err == nil && from > t.end && !t.walked {
			t, err = s.tail(ctx, taskID, true)
		}
		if err != nil {
			return err
		}
		if from > t.end {
			return fmt.Errorf("%w: log has %d lines", store.ErrLogGap, t.end)
		}
		// Lines already stored are skipped, not compared: the first write
		// of a line number wins.
		if t.end-from >= int64(len(lines)) {
			return nil
		}
		rest := lines[t.end-from:]
		wrote := false
		for len(rest) > 0 {
			n := chunkLen(rest)
			c := chunkDoc{ID: chunkID(taskID, t.end), TaskID: taskID, From: t.end, End: t.end + int64(n)}
			if c.Packed, err = pack(rest[:n]); err != nil {
				break
			}
			if _, err = s.chunks.InsertOne(ctx, c); err != nil {
				break
			}
			t.add(c.From, c.End)
			wrote, rest = true, rest[n:]
		}
		if wrote {
			// The whole head in one write, after the chunks it names.
			// Should a racing writer's older head overwrite this one, it
			// is stale, not wrong, and the walk in tail finds the end.
			h := headDoc{ID: taskID, From: t.last, End: t.end, Index: encodeIndex(t.index)}
			_, herr := s.heads.ReplaceOne(ctx, bson.D{{Key: "_id", Value: taskID}}, h, options.Replace().SetUpsert(true))
			// Two first appends may race to create the head: either will do.
			if herr != nil && !mongo.IsDuplicateKeyError(herr) && err == nil {
				return fmt.Errorf("lines stored, but not the log's head: %w", herr)
			}
		}
		switch {
		case err == nil:
			return nil
		case !mongo.IsDuplicateKeyError(err):
			return err
		case retries == appendRetries:
			return fmt.Errorf("gave up after %d races with other writers: %w", retries, err)
		}
		// Someone else appended at the end first: find the new end and go
		// on from there.
		retries++
	}
}

// chunkLen is how many of lines go into the next chunk (at least one).
func chunkLen(lines []string) int {
	size := 0
	for i, line := range lines {
		size += len(line) + 16 // per-line overhead, roughly
		if i > 0 && (size > chunkBytes || i == chunkLines) {
			return i
		}
	}
	return len(lines)
}

// tailState is what tail found out about a log: its end, its last chunk,
// and an index of its chunks (see headDoc).
type tailState struct {
	index  []int64 // starts of chunks, ascending
	last   int64   // start of the last chunk; -1 when there is none
	end    int64   // the number of lines; maybe fewer unless walked
	walked bool    // whether chunks after the head were looked for
}

// add records the chunk [from, end) found or written after t's last one.
func (t *tailState) add(from, end int64) {
	if n := len(t.index); n == 0 || from-t.index[n-1] >= indexEvery {
		t.index = append(t.index, from)
	}
	t.last, t.end = from, end
}

// tail finds the end of a log: the chunk its head names, if the head is
// right, and then, if walk, every chunk after it; else every chunk from
// the first. Nothing but _id lookups.
func (s *logs) tail(ctx context.Context, taskID string, walk bool) (tailState, error) {
	t := tailState{last: -1}
	var h headDoc
	err := findOne(ctx, s.heads, bson.D{{Key: "_id", Value: taskID}}, &h)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return t, err
	default:
		// The head is right only if its chunk is there (a DeleteLog racing
		// an append can leave a head behind without chunks) and its index
		// makes sense; else the walk below starts from the first chunk.
		end, ok, err := s.chunkEnd(ctx, taskID, h.From)
		if err != nil {
			return t, err
		}
		index, ierr := decodeIndex(h.Index)
		if ok && end == h.End && ierr == nil && (len(index) == 0 || index[len(index)-1] <= h.From) {
			t = tailState{index: index, last: h.From, end: h.End}
		} else {
			walk = true
		}
	}
	if !walk {
		return t, nil
	}
	t.walked = true
	for {
		next, ok, err := s.chunkEnd(ctx, taskID, t.end)
		if err != nil || !ok {
			return t, err
		}
		t.add(t.end, next)
	}
}

// chunkEnd returns the end of the chunk starting at from, if there is one.
func (s *logs) chunkEnd(ctx context.Context, taskID string, from int64) (int64, bool, error) {
	var c struct {
		End int64 `bson:"end"`
	}
	err := findOne(ctx, s.chunks, bson.D{{Key: "_id", Value: chunkID(taskID, from)}}, &c,
		options.FindOne().SetProjection(bson.D{{Key: "end", Value: 1}}))
	if errors.Is(err, store.ErrNotFound) {
		return 0, false, nil
	}
	if err == nil && c.End <= from {
		err = fmt.Errorf("chunk %s ends at line %d", chunkID(taskID, from), c.End)
	}
	return c.End, err == nil, err
}

// chunk returns the chunk starting at from, if there is one.
func (s *logs) chunk(ctx context.Context, taskID string, from int64) (*chunkDoc, bool, error) {
	var c chunkDoc
	err := findOne(ctx, s.chunks, bson.D{{Key: "_id", Value: chunkID(taskID, from)}}, &c)
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if c.From != from || c.End <= from {
		return nil, false, fmt.Errorf("chunk %s holds lines [%d, %d)", c.ID, c.From, c.End)
	}
	return &c, true, nil
}

// lines returns the lines of c.
func (c *chunkDoc) lines() ([]string, error) {
	if c.unpacked != nil {
		return c.unpacked, nil
	}
	lines := c.Lines
	if c.Packed != nil {
		var err error
		if lines, err = unpack(c.Packed); err != nil {
			return nil, fmt.Errorf("chunk %s: %w", c.ID, err)
		}
	}
	if int64(len(lines)) != c.End-c.From {
		return nil, fmt.Errorf("chunk %s of lines [%d, %d) holds %d lines", c.ID, c.From, c.End, len(lines))
	}
	return lines, nil
}

func (s *logs) ReadLog(ctx context.Context, taskID string, from int64, limit int) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: read log of task %s: %w", taskID, err)
	}
	if from < 0 {
		return nil, fmt.Errorf("store: read log of task %s from line %d: negative line number", taskID, from)
	}
	if limit <= 0 {
		return nil, nil
	}
	out, err := s.readLog(ctx, taskID, from, from+int64(limit))
	if err != nil {
		return nil, fmt.Errorf("store: read log of task %s: %w", taskID, err)
	}
	return out, nil
}

func (s *logs) readLog(ctx context.Context, taskID string, from, to int64) ([]string, error) {
	var out []string
	err := s.walkLog(ctx, taskID, from, to, func(first int64, lines []string) bool {
		if out == nil {
			out = make([]string, 0, min(to-from, max(chunkLines, int64(len(lines)))))
		}
		out = append(out, lines...)
		return true
	})
	return out, err
}

// walkLog calls fn with the lines [from, to) of a log, a chunk's worth at
// a time (first is the number of lines[0]), until fn returns false or the
// log ends. It holds a few chunks at a time, whatever the range.
func (s *logs) walkLog(ctx context.Context, taskID string, from, to int64, fn func(first int64, lines []string) bool) error {
	// Start at the last chunk the head knows of that starts at or before
	// from; without a head, at the first chunk.
	var starts []int64
	var h headDoc
	err := findOne(ctx, s.heads, bson.D{{Key: "_id", Value: taskID}}, &h)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return err
	default:
		starts, _ = decodeIndex(h.Index) // a corrupt index is no index
		if n := len(starts); n == 0 || h.From > starts[n-1] {
			starts = append(starts, h.From)
		}
	}
	i := sort.Search(len(starts), func(i int) bool { return starts[i] > from })
	start := int64(0)
	if i > 0 {
		start = starts[i-1]
	}
	// Look up the chunks the head names in [start, to) a few at a time,
	// rather than one after another.
	r := chunkReader{s: s, ctx: ctx, taskID: taskID, ahead: []int64{start}}
	for _, st := range starts[i:] {
		if st >= to {
			break
		}
		r.ahead = append(r.ahead, st)
	}
	defer r.wait()
	c, ok, err := r.chunk(start)
	if err == nil && !ok && start > 0 {
		// The head names chunks that are not there: it outlived a
		// DeleteLog. Whatever log there is now starts at its first chunk.
		r.wait()
		r.ahead, r.pending = nil, nil
		c, ok, err = r.chunk(0)
	}
	// Walk on to the chunk that holds from.
	for err == nil && ok && c.End <= from {
		c, ok, err = r.chunk(c.End)
	}
	if err != nil || !ok {
		return err // !ok: the log ends before from
	}
	for {
		lines, err := c.lines()
		if err != nil {
			return err
		}
		first := max(from, c.From)
		if !fn(first, lines[first-c.From:min(c.End, to)-c.From]) || c.End >= to {
			return nil
		}
		if c, ok, err = r.chunk(c.End); err != nil || !ok {
			return err // !ok: the log ends here, as far as anyone wrote it
		}
	}
}

// readAhead is how many chunk lookups a read has going at once.
const readAhead = 4

// chunkReader looks up chunks of one log for one read: those it is told
// it will need ahead of time, readAhead at a time, others when asked for.
// Not safe for concurrent use.
type chunkReader struct {
	s       *logs
	ctx     context.Context
	taskID  string
	ahead   []int64               // starts of chunks to look up ahead, ascending
	pending map[int64]*chunkFetch // lookups started, by start
	wg      sync.WaitGroup
}

type chunkFetch struct {
	done chan struct{}
	c    *chunkDoc
	ok   bool
	err  error
}

// chunk returns the chunk that starts at from, if there is one.
func (r *chunkReader) chunk(from int64) (*chunkDoc, bool, error) {
	for len(r.ahead) > 0 && len(r.pending) < readAhead {
		r.start(r.ahead[0])
		r.ahead = r.ahead[1:]
	}
	if f, ok := r.pending[from]; ok {
		<-f.done
		delete(r.pending, from)
		return f.c, f.ok, f.err
	}
	return r.s.chunk(r.ctx, r.taskID, from)
}

// start starts looking up the chunk that starts at from.
func (r *chunkReader) start(from int64) {
	if r.pending == nil {
		r.pending = make(map[int64]*chunkFetch)
	}
	if _, ok := r.pending[from]; ok {
		return
	}
	f := &chunkFetch{done: make(chan struct{})}
	r.pending[from] = f
	r.wg.Go(func() {
		defer close(f.done)
		f.c, f.ok, f.err = r.s.chunk(r.ctx, r.taskID, from)
		if f.err == nil && f.ok {
			// Unpacking is most of a read's work: do it here, ahead too.
			f.c.unpacked, f.err = f.c.lines()
		}
	})
}

// wait waits for the lookups started.
func (r *chunkReader) wait() { r.wg.Wait() }

func (s *logs) LogLen(ctx context.Context, taskID string) (int64, error) {
	t, err := s.tail(ctx, taskID, true)
	if err != nil {
		return 0, fmt.Errorf("store: log length of task %s: %w", taskID, err)
	}
	return t.end, nil
}

func (s *logs) DeleteLog(ctx context.Context, taskID string) error {
	// Head first: a head without chunks is detected, chunks without a head
	// are merely found more slowly. (The one query here that FerretDB runs
	// as a scan of all logs; logs are deleted rarely.)
	_, err := s.heads.DeleteOne(ctx, bson.D{{Key: "_id", Value: taskID}})
	if err == nil {
		_, err = s.chunks.DeleteMany(ctx, bson.D{{Key: "task_id", Value: taskID}})
	}
	if err != nil {
		return fmt.Errorf("store: delete log of task %s: %w", taskID, err)
	}
	return nil
}

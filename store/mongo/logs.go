package mongo

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/crawlhub/crawlhub/store"
)

// logs keeps a task's log as chunk documents in task_logs, each holding
// the consecutive lines [from, end), with _id "<task id>:<from>". Chunks
// are only ever added at the current end of the log, so they tile it
// without holes, and the _id makes two writers appending at the same end
// collide instead of both succeeding.
//
// FerretDB v1 runs every query but a lookup by _id as a scan of the whole
// collection, decoding every line of every log. So the end of a log is
// found by _id lookups, not by a sorted query: a head document in
// task_log_heads names the last chunk someone appended, and the chunks
// after it (if the head lags behind a racing writer) are found by looking
// up "<task id>:<end>" until none is there. The head is only a hint: when
// it names no such chunk, a sorted query over the chunks decides.
type logs Store

type chunkDoc struct {
	ID     string   `bson:"_id"`
	TaskID string   `bson:"task_id"`
	From   int64    `bson:"from"`
	End    int64    `bson:"end"` // From + len(Lines)
	Lines  []string `bson:"lines"`
}

// headDoc points at the last chunk of task ID: the one starting at From.
type headDoc struct {
	ID   string `bson:"_id"`
	From int64  `bson:"from"`
	End  int64  `bson:"end"`
}

func chunkID(taskID string, from int64) string { return fmt.Sprintf("%s:%012d", taskID, from) }

// Chunk limits. A document may not exceed 16 MiB; chunks stay far below so
// that reading a few lines never drags in much more than it needs.
const (
	chunkBytes   = 1 << 20 // lines per chunk until their bytes pass this…
	chunkLines   = 10_000  // …or there are this many
	maxLineBytes = 8 << 20 // a longer line gets an error: its chunk would near the limit
)

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
	if from < 0 {
		return errors.New("negative line number")
	}
	for i, line := range lines {
		if len(line) > maxLineBytes {
			return fmt.Errorf("line %d is %d bytes, more than the %d a log line may have", from+int64(i), len(line), maxLineBytes)
		}
	}
	for retries := 0; ; {
		cur, err := s.logLen(ctx, taskID)
		if err != nil {
			return err
		}
		if from > cur {
			return fmt.Errorf("%w: log has %d lines", store.ErrLogGap, cur)
		}
		// Lines already stored are skipped, not compared: the first write
		// of a line number wins.
		if cur-from >= int64(len(lines)) {
			return nil
		}
		rest := lines[cur-from:]
		last := int64(-1)
		for len(rest) > 0 {
			n := chunkLen(rest)
			c := chunkDoc{ID: chunkID(taskID, cur), TaskID: taskID, From: cur, End: cur + int64(n), Lines: rest[:n]}
			if _, err = s.chunks.InsertOne(ctx, c); err != nil {
				break
			}
			last, cur, rest = c.From, c.End, rest[n:]
		}
		if last >= 0 {
			// A plain $set: should a racing writer's older head overwrite
			// this one, the walk in logLen still finds the end.
			_, herr := s.heads.UpdateByID(ctx, taskID, bson.D{{Key: "$set", Value: bson.D{
				{Key: "from", Value: last}, {Key: "end", Value: cur},
			}}}, options.UpdateOne().SetUpsert(true))
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
		// Someone else appended at cur first: find the new end and go on
		// from there.
		retries++
	}
}

// chunkLen is how many of lines go into the next chunk (at least one).
func chunkLen(lines []string) int {
	size := 0
	for i, line := range lines {
		size += len(line) + 16 // BSON overhead per array element, roughly
		if i > 0 && (size > chunkBytes || i == chunkLines) {
			return i
		}
	}
	return len(lines)
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
	to := from + int64(limit)
	cur, err := s.chunks.Find(ctx, bson.D{
		{Key: "task_id", Value: taskID},
		{Key: "from", Value: bson.D{{Key: "$lt", Value: to}}},
		{Key: "end", Value: bson.D{{Key: "$gt", Value: from}}},
	}, options.Find().SetSort(bson.D{{Key: "from", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("store: read log of task %s: %w", taskID, err)
	}
	defer cur.Close(context.WithoutCancel(ctx))
	var out []string
	next := from
	for next < to && cur.Next(ctx) {
		var c chunkDoc
		if err := cur.Decode(&c); err != nil {
			return nil, fmt.Errorf("store: read log of task %s: %w", taskID, err)
		}
		if c.From > next {
			return nil, fmt.Errorf("store: read log of task %s: no chunk holds line %d", taskID, next)
		}
		// Chunks never overlap (each starts at an end, and _id makes
		// starts unique), but reading does not depend on it.
		for pos := next; pos < min(c.End, to); pos++ {
			out = append(out, c.Lines[pos-c.From])
		}
		next = max(next, min(c.End, to))
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("store: read log of task %s: %w", taskID, err)
	}
	return out, nil
}

func (s *logs) LogLen(ctx context.Context, taskID string) (int64, error) {
	n, err := s.logLen(ctx, taskID)
	if err != nil {
		return 0, fmt.Errorf("store: log length of task %s: %w", taskID, err)
	}
	return n, nil
}

func (s *logs) logLen(ctx context.Context, taskID string) (int64, error) {
	var h headDoc
	err := findOne(ctx, s.heads, bson.D{{Key: "_id", Value: taskID}}, &h)
	if errors.Is(err, store.ErrNotFound) {
		return s.scanLen(ctx, taskID)
	}
	if err != nil {
		return 0, err
	}
	// The head is right only if its chunk is there (a DeleteLog racing an
	// append can leave a head behind without chunks).
	end, ok, err := s.chunkEnd(ctx, taskID, h.From)
	if err != nil {
		return 0, err
	}
	if !ok || end != h.End {
		return s.scanLen(ctx, taskID)
	}
	for {
		next, ok, err := s.chunkEnd(ctx, taskID, end)
		if err != nil || !ok {
			return end, err
		}
		end = next
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
	return c.End, err == nil, err
}

// scanLen finds the end of a log without its head: right always, but a
// scan of all logs on FerretDB.
func (s *logs) scanLen(ctx context.Context, taskID string) (int64, error) {
	var last struct {
		End int64 `bson:"end"`
	}
	err := findOne(ctx, s.chunks, bson.D{{Key: "task_id", Value: taskID}}, &last, options.FindOne().
		SetSort(bson.D{{Key: "end", Value: -1}}).
		SetProjection(bson.D{{Key: "end", Value: 1}}))
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	return last.End, err
}

func (s *logs) DeleteLog(ctx context.Context, taskID string) error {
	// Head first: a head without chunks is detected, chunks without a head
	// are merely found more slowly.
	_, err := s.heads.DeleteOne(ctx, bson.D{{Key: "_id", Value: taskID}})
	if err == nil {
		_, err = s.chunks.DeleteMany(ctx, bson.D{{Key: "task_id", Value: taskID}})
	}
	if err != nil {
		return fmt.Errorf("store: delete log of task %s: %w", taskID, err)
	}
	return nil
}

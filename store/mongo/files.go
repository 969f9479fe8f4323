package mongo

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/crawlhub/crawlhub/store"
)

// files keeps blobs in the GridFS bucket "files", where agents in cluster
// mode can read them directly. GridFS has no replace: Put uploads a new
// version and then deletes old ones, and Open reads the newest.
type files Store

// bucket returns a handle on the bucket. It is made per call because the
// driver's GridFSBucket is not safe for concurrent use: its first upload
// sets an unguarded flag (a data race under -race). A handle is a small
// struct; the cost is one probe of files.files per Put.
func (s *files) bucket() *mongo.GridFSBucket {
	return s.db.GridFSBucket(options.GridFSBucket().SetName("files"))
}

// cleanupTimeout bounds the deletes that undo a failed Put, which run even
// when the caller's ctx is what made it fail.
const cleanupTimeout = 10 * time.Second

func (s *files) Put(ctx context.Context, name string, r io.Reader) (string, int64, error) {
	md5hex, size, err := s.put(ctx, name, r)
	if err != nil {
		return "", 0, fmt.Errorf("store: put file %q: %w", name, err)
	}
	return md5hex, size, nil
}

func (s *files) put(ctx context.Context, name string, r io.Reader) (string, int64, error) {
	if err := ctx.Err(); err != nil {
		return "", 0, err
	}
	if err := validName(name); err != nil {
		return "", 0, err
	}
	id := bson.NewObjectID()
	up, err := s.bucket().OpenUploadStreamWithID(ctx, id, name)
	if err != nil {
		return "", 0, err
	}
	h := md5.New()
	size, err := io.Copy(up, io.TeeReader(r, h))
	if err == nil {
		err = up.Close() // writes the files document: the version exists from here on
	}
	if err != nil {
		up.Abort()
		// Abort deletes the chunks with ctx, which may be the cancelled
		// context that made the upload fail.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		s.bucket().GetChunksCollection().DeleteMany(cctx, bson.D{{Key: "files_id", Value: id}})
		return "", 0, err
	}

	s.prune(ctx, name, id)
	return hex.EncodeToString(h.Sum(nil)), size, nil
}

// prune deletes the versions of name older than the one the Put of id
// replaced. That one is kept until the next Put: unlike an open file, a
// GridFS version vanishes under its reader when deleted, and this gives a
// reader that opened it just before a whole Put's time to finish.
//
// Pruning is best effort: the Put has succeeded whatever happens here,
// and the next Put of name prunes whatever this one left.
func (s *files) prune(ctx context.Context, name string, id bson.ObjectID) {
	versions, err := s.versions(ctx, name)
	if err != nil {
		return
	}
	for i, v := range versions {
		if v.ID == id {
			for _, old := range versions[min(i+2, len(versions)):] {
				s.bucket().Delete(ctx, old.ID)
			}
			return
		}
	}
}

type version struct {
	ID bson.ObjectID `bson:"_id"`
}

// newestFirst orders versions by upload time, then id: ids alone order
// uploads from one process, but not from several in the same second.
var newestFirst = bson.D{{Key: "uploadDate", Value: -1}, {Key: "_id", Value: -1}}

// versions lists the stored versions of name, newest first.
func (s *files) versions(ctx context.Context, name string) ([]version, error) {
	return findAll(ctx, s.bucket().GetFilesCollection(), bson.D{{Key: "filename", Value: name}},
		func(v *version) version { return *v },
		options.Find().SetSort(newestFirst).SetProjection(bson.D{{Key: "_id", Value: 1}}))
}

// Open returns the newest version of name. Reading it uses ctx.
func (s *files) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := validName(name); err != nil {
		return nil, fmt.Errorf("store: open file %q: %w", name, err)
	}
	// A concurrent Put may delete the version found between finding and
	// opening it; then a newer one exists, so look again.
	for range 3 {
		var v version
		err := findOne(ctx, s.bucket().GetFilesCollection(), bson.D{{Key: "filename", Value: name}}, &v,
			options.FindOne().SetSort(newestFirst).SetProjection(bson.D{{Key: "_id", Value: 1}}))
		if err != nil {
			return nil, fmt.Errorf("store: open file %q: %w", name, err)
		}
		ds, err := s.bucket().OpenDownloadStream(ctx, v.ID)
		if errors.Is(err, mongo.ErrFileNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("store: open file %q: %w", name, err)
		}
		return ds, nil
	}
	return nil, fmt.Errorf("store: open file %q: replaced again and again while opening", name)
}

// Delete deletes every version of name.
func (s *files) Delete(ctx context.Context, name string) error {
	if err := validName(name); err != nil {
		return fmt.Errorf("store: delete file %q: %w", name, err)
	}
	versions, err := s.versions(ctx, name)
	if err == nil && len(versions) == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("store: delete file %q: %w", name, err)
	}
	for _, v := range versions {
		if err := s.bucket().Delete(ctx, v.ID); err != nil && !errors.Is(err, mongo.ErrFileNotFound) {
			return fmt.Errorf("store: delete file %q: %w", name, err)
		}
	}
	return nil
}

// validName accepts slash-separated relative paths ("spiders/<id>/v1.zip")
// and nothing that could be read as leaving a directory: GridFS would not
// care, but agents write these names to disk, and the sqlite store applies
// the same rule.
func validName(name string) error {
	if name == "" || !utf8.ValidString(name) || strings.ContainsAny(name, "\x00\\") {
		return fmt.Errorf("invalid file name %q", name)
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("invalid file name %q: want a relative slash-separated path without empty, . or .. parts", name)
		}
	}
	return nil
}

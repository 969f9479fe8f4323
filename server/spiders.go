package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/unzip"
	"github.com/crawlhub/crawlhub/wire"
)

// spiderFile is where a spider's archive lives in the store's Files.
func spiderFile(id string) string { return "spiders/" + id + ".zip" }

func (s *Server) listSpiders(c echo.Context) error {
	sp, err := s.store.Spiders().List(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, list[store.Spider]{Items: sp, Total: len(sp)})
}

func (s *Server) spiderParam(c echo.Context) (*store.Spider, error) {
	id := c.Param("id")
	if !store.ValidID(id) {
		// A name works too: scripts know spiders by name.
		sp, err := s.store.Spiders().GetByName(c.Request().Context(), id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, notFound("no spider has id or name " + id)
		}
		return sp, err
	}
	sp, err := s.store.Spiders().Get(c.Request().Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("no spider has id " + id)
	}
	return sp, err
}

func (s *Server) getSpider(c echo.Context) error {
	sp, err := s.spiderParam(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, sp)
}

// spiderForm reads the multipart fields of a create or update. File may be
// "" on update (the archive is kept).
type spiderForm struct {
	name, command string
	env           map[string]string
	hasEnv        bool
	file          string // a checked archive in a temporary file
	// dedupKeys and dedup are the deduplication settings, when sent.
	dedupKeys              []string
	dedup                  string
	hasDedupKeys, hasDedup bool
}

func (s *Server) readSpiderForm(c echo.Context, needFile bool) (*spiderForm, func(), error) {
	r := c.Request()
	r.Body = http.MaxBytesReader(c.Response(), r.Body, s.maxArchive()+1<<20)
	if err := r.ParseMultipartForm(32 << 20); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, nil, tooLarge(fmt.Sprintf("the archive is over the %d MiB limit (--max-archive)", s.maxArchive()>>20))
		}
		return nil, nil, badRequest("send the spider as multipart/form-data with fields name, command, env (JSON object), dedup_keys and dedup, and file (a zip archive): " + err.Error())
	}
	cleanup := func() { _ = r.MultipartForm.RemoveAll() }
	f := &spiderForm{name: strings.TrimSpace(r.FormValue("name")), command: strings.TrimSpace(r.FormValue("command"))}
	if v := r.FormValue("env"); v != "" {
		if err := json.Unmarshal([]byte(v), &f.env); err != nil {
			cleanup()
			return nil, nil, badRequest(`env must be a JSON object of strings, e.g. {"KEY":"value"}: ` + err.Error())
		}
		if err := store.CheckEnv(f.env); err != nil {
			cleanup()
			return nil, nil, badRequest(err.Error())
		}
		f.hasEnv = true
	}
	if _, ok := r.MultipartForm.Value["dedup_keys"]; ok {
		keys, err := parseDedupKeys(r.FormValue("dedup_keys"))
		if err != nil {
			cleanup()
			return nil, nil, err
		}
		f.dedupKeys, f.hasDedupKeys = keys, true
	}
	if _, ok := r.MultipartForm.Value["dedup"]; ok {
		f.dedup, f.hasDedup = strings.TrimSpace(r.FormValue("dedup")), true
	}
	fh, err := c.FormFile("file")
	switch {
	case errors.Is(err, http.ErrMissingFile):
		if needFile {
			cleanup()
			return nil, nil, badRequest("the spider's zip archive is missing: send it in the multipart field \"file\"")
		}
		return f, cleanup, nil
	case err != nil:
		cleanup()
		return nil, nil, badRequest("read the uploaded archive: " + err.Error())
	}
	if fh.Size > s.maxArchive() {
		cleanup()
		return nil, nil, tooLarge(fmt.Sprintf("the archive is %d MiB, over the %d MiB limit (--max-archive)", fh.Size>>20, s.maxArchive()>>20))
	}
	tmp, err := os.CreateTemp("", "crawlhub-upload-*.zip")
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	done := func() { cleanup(); os.Remove(tmp.Name()) }
	src, err := fh.Open()
	if err == nil {
		_, err = io.Copy(tmp, src)
		src.Close()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		done()
		return nil, nil, fmt.Errorf("save upload: %w", err)
	}
	// Extract once here, into a throwaway directory, so a hostile or broken
	// archive is refused at upload with the reason, not later on every node.
	check, err := os.MkdirTemp("", "crawlhub-check-")
	if err != nil {
		done()
		return nil, nil, err
	}
	defer os.RemoveAll(check)
	if err := unzip.ExtractFile(tmp.Name(), filepath.Join(check, "x"), s.unzipLimits()); err != nil {
		done()
		return nil, nil, badRequest("archive refused: " + err.Error())
	}
	f.file = tmp.Name()
	return f, done, nil
}

func (s *Server) maxArchive() int64 {
	if s.cfg.MaxArchive > 0 {
		return s.cfg.MaxArchive
	}
	return 100 << 20
}

func (s *Server) unzipLimits() unzip.Limits { return unzip.Limits{MaxArchive: s.maxArchive()} }

func (s *Server) putArchive(ctx context.Context, sp *store.Spider, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sp.File = spiderFile(sp.ID)
	sp.MD5, sp.Size, err = s.store.Files().Put(ctx, sp.File, f)
	return err
}

func (s *Server) createSpider(c echo.Context) error {
	ctx := c.Request().Context()
	f, done, err := s.readSpiderForm(c, true)
	if err != nil {
		return err
	}
	defer done()
	if f.name == "" || f.command == "" {
		return badRequest("a spider needs a name and a command (e.g. command \"python3 main.py\")")
	}
	if store.ValidID(f.name) {
		return badRequest("a spider name must not look like an id (24 hex digits)")
	}
	now := store.Now()
	sp := &store.Spider{ID: store.NewID(), Name: f.name, Command: f.command, Env: f.env, Created: now, Updated: now}
	if err := f.applyDedup(sp); err != nil {
		return err
	}
	if _, err := s.store.Spiders().GetByName(ctx, sp.Name); err == nil {
		return conflict("a spider named " + sp.Name + " exists: choose another name or update it")
	}
	if err := s.putArchive(ctx, sp, f.file); err != nil {
		return err
	}
	if err := s.store.Spiders().Create(ctx, sp); err != nil {
		_ = s.store.Files().Delete(ctx, sp.File)
		if errors.Is(err, store.ErrConflict) {
			return conflict("a spider named " + sp.Name + " exists: choose another name or update it")
		}
		return err
	}
	s.log.Info("spider created", "spider_id", sp.ID, "name", sp.Name, "md5", sp.MD5)
	s.audit(ctx, AuditSpiderCreate, sp.ID, sp.Name+", archive md5 "+sp.MD5)
	return c.JSON(http.StatusCreated, sp)
}

func (s *Server) updateSpider(c echo.Context) error {
	ctx := c.Request().Context()
	sp, err := s.spiderParam(c)
	if err != nil {
		return err
	}
	f, done, err := s.readSpiderForm(c, false)
	if err != nil {
		return err
	}
	defer done()
	if f.name != "" {
		sp.Name = f.name
	}
	if f.command != "" {
		sp.Command = f.command
	}
	if f.hasEnv {
		sp.Env = f.env
	}
	if err := f.applyDedup(sp); err != nil {
		return err
	}
	if f.file != "" {
		if err := s.putArchive(ctx, sp, f.file); err != nil {
			return err
		}
	}
	sp.Updated = store.Now()
	if err := s.store.Spiders().Update(ctx, sp); err != nil {
		return err
	}
	s.audit(ctx, AuditSpiderUpdate, sp.ID, sp.Name+", archive md5 "+sp.MD5)
	return c.JSON(http.StatusOK, sp)
}

func (s *Server) deleteSpider(c echo.Context) error {
	ctx := c.Request().Context()
	sp, err := s.spiderParam(c)
	if err != nil {
		return err
	}
	if err := s.store.Spiders().Delete(ctx, sp.ID); err != nil {
		return err
	}
	if err := s.store.Files().Delete(ctx, sp.File); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Warn("spider archive not deleted", "spider_id", sp.ID, "err", err)
	}
	s.audit(ctx, AuditSpiderDelete, sp.ID, sp.Name)
	return c.NoContent(http.StatusNoContent)
}

// deploySpider sends sync_spider to every online node; the outcome of each
// arrives as a spider_synced event.
func (s *Server) deploySpider(c echo.Context) error {
	ctx := c.Request().Context()
	sp, err := s.spiderParam(c)
	if err != nil {
		return err
	}
	nodes, err := s.onlineNodes(ctx)
	if err != nil {
		return err
	}
	sent := []string{}
	for _, n := range nodes {
		if err := s.caller.Send(ctx, n.ID, wire.OpSyncSpider, wire.SyncSpider{SpiderID: sp.ID}); err != nil {
			return err
		}
		sent = append(sent, n.ID)
	}
	s.audit(ctx, AuditSpiderDeploy, sp.ID, fmt.Sprintf("%s to %d nodes", sp.Name, len(sent)))
	return c.JSON(http.StatusAccepted, map[string]any{"spider_id": sp.ID, "md5": sp.MD5, "nodes": sent})
}

func (s *Server) onlineNodes(ctx context.Context) ([]store.Node, error) {
	all, err := s.store.Nodes().List(ctx)
	if err != nil {
		return nil, err
	}
	var on []store.Node
	for _, n := range all {
		if s.live(ctx, n.ID) == nil {
			on = append(on, n)
		}
	}
	return on, nil
}

// parseDedupKeys reads the dedup_keys field: a JSON array of strings
// (["url", "title"]) or the names separated by commas (url,title). Empty
// means none.
func parseDedupKeys(v string) ([]string, error) {
	v = strings.TrimSpace(v)
	var keys []string
	switch {
	case v == "":
	case strings.HasPrefix(v, "["):
		if err := json.Unmarshal([]byte(v), &keys); err != nil {
			return nil, badRequest(`dedup_keys must be a JSON array of field names, e.g. ["url"], or names separated by commas: ` + err.Error())
		}
	default:
		for k := range strings.SplitSeq(v, ",") {
			keys = append(keys, strings.TrimSpace(k))
		}
	}
	seen := map[string]bool{}
	for _, k := range keys {
		switch {
		case k == "":
			return nil, badRequest("dedup_keys has an empty field name: name the top-level fields that make an item unique, e.g. url")
		case slices.Contains(store.ReservedItemKeys, k):
			return nil, badRequest(fmt.Sprintf("dedup_keys cannot use %s: the names %s are reserved (an item may not have them)", k, strings.Join(store.ReservedItemKeys, ", ")))
		case seen[k]:
			return nil, badRequest("dedup_keys names " + k + " twice")
		}
		seen[k] = true
	}
	return keys, nil
}

// applyDedup sets the deduplication settings sent in the form on sp,
// keeping the ones not sent, and checks the result: keys need a policy,
// ignore or overwrite, and a policy needs keys. Sending empty dedup_keys
// turns deduplication off.
func (f *spiderForm) applyDedup(sp *store.Spider) error {
	if f.hasDedupKeys {
		sp.DedupKeys = f.dedupKeys
		if len(f.dedupKeys) == 0 && !f.hasDedup {
			sp.Dedup = store.DedupNone
		}
	}
	if f.hasDedup {
		sp.Dedup = f.dedup
	}
	switch {
	case sp.Dedup != store.DedupNone && sp.Dedup != store.DedupIgnore && sp.Dedup != store.DedupOverwrite:
		return badRequest(fmt.Sprintf("dedup must be %s (keep the first item of a key) or %s (keep the newest), not %q", store.DedupIgnore, store.DedupOverwrite, sp.Dedup))
	case len(sp.DedupKeys) > 0 && sp.Dedup == store.DedupNone:
		return badRequest(fmt.Sprintf("dedup_keys needs a policy: set dedup to %s (keep the first item of a key) or %s (keep the newest)", store.DedupIgnore, store.DedupOverwrite))
	case len(sp.DedupKeys) == 0 && sp.Dedup != store.DedupNone:
		return badRequest("dedup " + sp.Dedup + " needs dedup_keys: the top-level fields that make an item unique, e.g. url")
	}
	if len(sp.DedupKeys) == 0 {
		sp.DedupKeys = nil
	}
	return nil
}

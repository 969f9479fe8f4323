package agent

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/unzip"
	"github.com/crawlhub/crawlhub/wire"
)

// spiderLocks serialises syncs of one spider: two tasks of a spider that
// start together download it once.
type spiderLocks struct {
	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

func (l *spiderLocks) lock(id string) func() {
	l.mu.Lock()
	if l.locks == nil {
		l.locks = map[string]*sync.Mutex{}
	}
	m, ok := l.locks[id]
	if !ok {
		m = new(sync.Mutex)
		l.locks[id] = m
	}
	l.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// spiderDir is where one version of a spider is extracted. Versions live
// side by side so a deploy never pulls files from under a running task.
func (a *Agent) spiderDir(sp *store.Spider) string { return a.dir("spiders", sp.ID+"-"+sp.MD5) }

// syncSpider makes the node's copy of a spider the stored version and
// returns the spider and its directory. An unchanged spider (same md5) is
// never downloaded again.
func (a *Agent) syncSpider(ctx context.Context, id string) (*store.Spider, string, error) {
	sp, _, err := a.syncSpiderReport(ctx, id)
	if err != nil {
		return nil, "", err
	}
	return sp, a.spiderDir(sp), nil
}

// pruneSpider removes the versions of a spider other than keep that no
// running task uses.
func (a *Agent) pruneSpider(id, keep string) {
	old, _ := filepath.Glob(a.dir("spiders", id+"-*"))
	a.mu.Lock()
	inUse := map[string]bool{}
	for _, r := range a.runs {
		inUse[r.dir] = true
	}
	a.mu.Unlock()
	for _, d := range old {
		if d != keep && !inUse[d] && !strings.HasPrefix(filepath.Base(d), ".") {
			os.RemoveAll(d)
		}
	}
}

func (a *Agent) syncSpiderReport(ctx context.Context, id string) (*store.Spider, bool, error) {
	unlock := a.spiderLocks.lock(id)
	defer unlock()
	sp, err := a.store.Spiders().Get(ctx, id)
	if err != nil {
		return nil, false, fmt.Errorf("spider %s: %w", id, err)
	}
	// Extraction is atomic, so a version's directory exists only complete.
	dir := a.spiderDir(sp)
	if _, err := os.Stat(dir); err == nil {
		return sp, false, nil
	}
	if err := os.MkdirAll(a.dir("spiders"), dirMode); err != nil {
		return nil, false, err
	}
	tmp, err := os.CreateTemp(a.dir("spiders"), ".download-*.zip")
	if err != nil {
		return nil, false, err
	}
	defer os.Remove(tmp.Name())
	src, err := a.store.Files().Open(ctx, sp.File)
	if err != nil {
		tmp.Close()
		return nil, false, fmt.Errorf("open archive of spider %s: %w", sp.Name, err)
	}
	h := md5.New()
	_, err = io.Copy(io.MultiWriter(tmp, h), src)
	src.Close()
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, false, fmt.Errorf("download spider %s: %w", sp.Name, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sp.MD5 {
		return nil, false, fmt.Errorf("spider %s downloaded with md5 %s, want %s: the archive changed during the download or is corrupt; deploy again", sp.Name, got, sp.MD5)
	}
	if err := unzip.ExtractFile(tmp.Name(), dir, unzip.Limits{MaxArchive: a.cfg.MaxArchive}); err != nil {
		return nil, false, fmt.Errorf("extract spider %s: %w", sp.Name, err)
	}
	a.pruneSpider(sp.ID, dir)
	a.log.Info("spider synced", "spider_id", sp.ID, "name", sp.Name, "md5", sp.MD5)
	return sp, true, nil
}

// SyncSpider implements wire.Node; the outcome goes out as an
// EvSpiderSynced event.
func (a *Agent) SyncSpider(ctx context.Context, req wire.SyncSpider) error {
	a.syncAndReport(ctx, req.SpiderID)
	return nil
}

func (a *Agent) syncAndReport(ctx context.Context, id string) {
	sp, downloaded, err := a.syncSpiderReport(ctx, id)
	ev := wire.SpiderSynced{SpiderID: id, Downloaded: downloaded}
	if err != nil {
		ev.Error = err.Error() + diskHint(err, a.cfg.DataDir)
		a.log.Warn("spider sync failed", "spider_id", id, "err", err)
	} else {
		ev.MD5 = sp.MD5
	}
	if err := a.resp.Emit(ctx, wire.EvSpiderSynced, ev); err != nil && ctx.Err() == nil {
		a.log.Warn("spider_synced not published", "spider_id", id, "err", err)
	}
}

// syncAll brings every spider up to date, at start.
func (a *Agent) syncAll(ctx context.Context) {
	sps, err := a.store.Spiders().List(ctx)
	if err != nil {
		if ctx.Err() == nil {
			a.log.Warn("could not list spiders to sync", "err", err)
		}
		return
	}
	for _, sp := range sps {
		if ctx.Err() != nil {
			return
		}
		a.syncAndReport(ctx, sp.ID)
	}
}

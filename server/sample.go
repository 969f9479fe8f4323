package server

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/crawlhub/crawlhub/store"
)

// sampleScript prints numbered lines over about 30 s, some in colour, with
// a warning and an error, so a newcomer has something to run and watch.
const sampleScript = `#!/bin/sh
# A sample spider: replace it with your own (upload a zip with your code and
# the command that runs it).
echo "sample spider starting on node $CRAWLHUB_NODE_ID (task $CRAWLHUB_TASK_ID)"
i=1
while [ $i -le 60 ]; do
  case $((i % 10)) in
    3) printf '\033[32mline %d: fetched https://example.com/page/%d (200 OK)\033[0m\n' $i $i ;;
    7) printf '\033[36mline %d: parsed 12 items\033[0m\n' $i ;;
    *) echo "line $i: crawling page $i" ;;
  esac
  [ $i -eq 25 ] && printf '\033[33mWARNING: page 25 was slow to answer (2.1 s)\033[0m\n' >&2
  [ $i -eq 40 ] && printf '\033[31mERROR: page 40 answered 503; will retry later\033[0m\n' >&2
  i=$((i + 1))
  sleep 0.5
done
echo "sample spider done: 60 pages"
`

// CreateSampleSpider adds the sample spider "sample" if the store has no
// spiders at all. It reports whether it created it.
func CreateSampleSpider(ctx context.Context, st store.Store) (bool, error) {
	sps, err := st.Spiders().List(ctx)
	if err != nil || len(sps) > 0 {
		return false, err
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: "run.sh", Method: zip.Deflate}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err == nil {
		_, err = w.Write([]byte(sampleScript))
	}
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		return false, fmt.Errorf("sample spider: %w", err)
	}
	now := store.Now()
	sp := &store.Spider{ID: store.NewID(), Name: "sample", Command: "sh run.sh", Created: now, Updated: now}
	sp.File = spiderFile(sp.ID)
	if sp.MD5, sp.Size, err = st.Files().Put(ctx, sp.File, &buf); err != nil {
		return false, fmt.Errorf("sample spider: %w", err)
	}
	if err := st.Spiders().Create(ctx, sp); err != nil {
		_ = st.Files().Delete(ctx, sp.File)
		if errors.Is(err, store.ErrConflict) {
			return false, nil
		}
		return false, fmt.Errorf("sample spider: %w", err)
	}
	return true, nil
}

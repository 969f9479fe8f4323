package server

import (
	"archive/zip"
	"bytes"
	"errors"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/labstack/echo/v4"
)

// fuzzBoundary is the multipart boundary of the seeds; the fuzzer may
// change the Content-Type's too (it is an input).
const fuzzBoundary = "crawlhubfuzz"

// FuzzSpiderUpload feeds arbitrary multipart bodies and Content-Types to
// the reader of a spider upload (POST /api/spiders, PUT /api/spiders/:id):
// the form, its env and dedup fields, the archive and its extraction. Each
// is either a checked form whose archive is a file on disk, or a
// bad_request (400, or 413 for its size) with a message; never a panic or
// another error, and nothing is left in the temporary directory once the
// request is done with.
func FuzzSpiderUpload(f *testing.F) {
	ct := "multipart/form-data; boundary=" + fuzzBoundary
	archive := fuzzZip(f, map[string]string{"main.py": "print('hello')\n"})
	seeds := []map[string]string{
		{"name": "books", "command": "python3 main.py", "env": `{"KEY":"v"}`, "dedup_keys": `["url"]`, "dedup": "skip"},
		{"name": "books", "command": "python3 main.py", "dedup_keys": "url, title"},
		{"name": "books", "env": `{"PATH":"/x"}`},
		{"name": "books", "env": `[1,2]`},
		{"dedup_keys": `["_id"]`},
		{"dedup_keys": "a,,b"},
	}
	for _, fields := range seeds {
		f.Add(ct, fuzzMultipart(f, fields, archive))
		f.Add(ct, fuzzMultipart(f, fields, []byte("PK\x03\x04 not a zip")))
	}
	f.Add(ct, fuzzMultipart(f, map[string]string{"name": "no-file"}, nil))
	f.Add("multipart/form-data", []byte("--x\r\n"))
	f.Add("application/json", []byte(`{"name":"books"}`))
	f.Add(ct, []byte("--"+fuzzBoundary+"\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.zip\"\r\n\r\nPK"))

	tmp := f.TempDir()
	f.Setenv("TMPDIR", tmp) // readSpiderForm's temporary files go here, to be counted
	// A small limit, so that the fuzzer reaches the size refusals too.
	s := &Server{cfg: Config{MaxArchive: 64 << 10}}
	e := echo.New()
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/api/spiders", bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		c := e.NewContext(req, httptest.NewRecorder())
		form, done, err := s.readSpiderForm(c, true)
		if err != nil {
			var ae *APIError
			if !errors.As(err, &ae) || ae.Code != CodeBadRequest || ae.Message == "" ||
				(ae.Status != http.StatusBadRequest && ae.Status != http.StatusRequestEntityTooLarge) {
				t.Fatalf("error %v (%T), want a bad_request with a message and status 400 or 413", err, err)
			}
		} else {
			fi, serr := os.Stat(form.file)
			if serr != nil || !fi.Mode().IsRegular() || fi.Size() > s.maxArchive() {
				t.Fatalf("accepted archive %q: %v, %v", form.file, fi, serr)
			}
			done()
		}
		if left, _ := os.ReadDir(tmp); len(left) > 0 {
			names := make([]string, len(left))
			for i, d := range left {
				names[i] = d.Name()
				os.RemoveAll(filepath.Join(tmp, d.Name()))
			}
			t.Fatalf("left behind in the temporary directory: %v", names)
		}
	})
}

func fuzzZip(f *testing.F, files map[string]string) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			f.Fatal(err)
		}
		w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		f.Fatal(err)
	}
	return b.Bytes()
}

func fuzzMultipart(f *testing.F, fields map[string]string, archive []byte) []byte {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	if err := mw.SetBoundary(fuzzBoundary); err != nil {
		f.Fatal(err)
	}
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	if archive != nil {
		w, err := mw.CreateFormFile("file", "spider.zip")
		if err != nil {
			f.Fatal(err)
		}
		w.Write(archive)
	}
	if err := mw.Close(); err != nil {
		f.Fatal(err)
	}
	return b.Bytes()
}

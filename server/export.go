package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/crawlhub/crawlhub/store"
)

// Exports stream items from the store (store.Items.EachItem reads them in
// pages) through a buffered writer, so memory stays flat whatever the
// count: a CSV export holds the column names besides, nothing else grows.

// exportFormats are the formats of an export, with their content types;
// the first is the default.
var exportFormats = []struct{ name, contentType string }{
	{"ndjson", "application/x-ndjson"},
	{"json", "application/json"},
	{"csv", "text/csv; charset=utf-8"},
}

// maxCSVColumns bounds the distinct top-level keys of a CSV export: the
// columns are held in memory, and a spreadsheet of more is no use anyway.
const maxCSVColumns = 10000

func exportFormat(c echo.Context) (name, contentType string, err error) {
	f := c.QueryParam("format")
	if f == "" {
		f = exportFormats[0].name
	}
	for _, ef := range exportFormats {
		if ef.name == f {
			return ef.name, ef.contentType, nil
		}
	}
	return "", "", badRequest("format " + f + " is not one of csv, json or ndjson")
}

func (s *Server) exportTaskItems(c echo.Context) error {
	format, ctype, err := exportFormat(c)
	if err != nil {
		return err
	}
	t, err := s.taskByID(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return s.exportItems(c, t.SpiderID, t.ID, "task-"+t.ID+"-items."+format, format, ctype)
}

func (s *Server) exportSpiderItems(c echo.Context) error {
	format, ctype, err := exportFormat(c)
	if err != nil {
		return err
	}
	sp, err := s.spiderParam(c)
	if err != nil {
		return err
	}
	return s.exportItems(c, sp.ID, "", fileSafe(sp.Name)+"-items."+format, format, ctype)
}

// fileSafe is name with anything but letters, digits, '.', '-' and '_'
// replaced, for a download's file name.
func fileSafe(name string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, name)
}

// exportItems streams a task's items in order (taskID set) or a spider's
// current items newest first.
func (s *Server) exportItems(c echo.Context, spiderID, taskID, filename, format, ctype string) error {
	ctx := c.Request().Context()
	var columns []string
	if format == "csv" {
		var err error
		if columns, err = s.csvColumns(ctx, spiderID, taskID); err != nil {
			return err
		}
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, ctype)
	h.Set(echo.HeaderContentDisposition, mime.FormatMediaType("attachment", map[string]string{"filename": filename}))
	h.Set("Cache-Control", "no-store")
	c.Response().WriteHeader(http.StatusOK)
	w := bufio.NewWriterSize(c.Response(), 64<<10)
	var err error
	switch format {
	case "csv":
		err = s.writeCSV(ctx, w, spiderID, taskID, columns)
	case "json":
		err = s.writeJSONArray(ctx, w, spiderID, taskID)
	default:
		err = s.writeNDJSON(ctx, w, spiderID, taskID)
	}
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("items export cut short", "spider_id", spiderID, "task_id", taskID, "format", format, "err", err)
		}
		// The status is sent: cut the connection, so the client sees a
		// broken download rather than a short file it would take for
		// complete. echo's Recover lets this panic through, and net/http
		// then drops the connection without ending the chunked body.
		panic(http.ErrAbortHandler)
	}
	return nil
}

// compactLine is an item on one line (stored items are compact already).
func compactLine(buf *bytes.Buffer, data json.RawMessage) []byte {
	if bytes.IndexByte(data, '\n') < 0 && bytes.IndexByte(data, '\r') < 0 {
		return data
	}
	buf.Reset()
	if json.Compact(buf, data) != nil {
		return data
	}
	return buf.Bytes()
}

func (s *Server) writeNDJSON(ctx context.Context, w *bufio.Writer, spiderID, taskID string) error {
	var buf bytes.Buffer
	return s.store.Items().EachItem(ctx, spiderID, taskID, func(it store.Item) error {
		w.Write(compactLine(&buf, it.Data))
		return w.WriteByte('\n')
	})
}

func (s *Server) writeJSONArray(ctx context.Context, w *bufio.Writer, spiderID, taskID string) error {
	var buf bytes.Buffer
	sep := byte('[')
	err := s.store.Items().EachItem(ctx, spiderID, taskID, func(it store.Item) error {
		w.WriteByte(sep)
		sep = ','
		w.WriteByte('\n')
		_, err := w.Write(compactLine(&buf, it.Data))
		return err
	})
	if err != nil {
		return err
	}
	if sep == '[' {
		w.WriteByte('[')
	}
	_, err = w.WriteString("\n]\n")
	return err
}

// csvColumns is the first pass of a CSV export: the union of the items'
// top-level keys, in the order they were first seen.
func (s *Server) csvColumns(ctx context.Context, spiderID, taskID string) ([]string, error) {
	var columns []string
	seen := map[string]bool{}
	tooMany := errors.New("too many columns")
	err := s.store.Items().EachItem(ctx, spiderID, taskID, func(it store.Item) error {
		return eachKey(it.Data, func(key string, _ json.RawMessage) error {
			if !seen[key] {
				if len(columns) == maxCSVColumns {
					return tooMany
				}
				seen[key] = true
				columns = append(columns, key)
			}
			return nil
		})
	})
	if errors.Is(err, tooMany) {
		return nil, badRequest(fmt.Sprintf("the items have more than %d different top-level keys, too many for CSV columns: export them as ndjson or json", maxCSVColumns))
	}
	return columns, err
}

// writeCSV is the second pass: one row per item, a cell per column. A
// string is written as its text, null and a missing key as an empty
// cell, anything else (numbers, booleans, nested objects and arrays) as
// its JSON text. Keys an item gained after the first pass (an item saved
// meanwhile) have no column and are left out.
func (s *Server) writeCSV(ctx context.Context, w *bufio.Writer, spiderID, taskID string, columns []string) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(columns); err != nil {
		return err
	}
	index := make(map[string]int, len(columns))
	for i, k := range columns {
		index[k] = i
	}
	row := make([]string, len(columns))
	err := s.store.Items().EachItem(ctx, spiderID, taskID, func(it store.Item) error {
		clear(row)
		err := eachKey(it.Data, func(key string, v json.RawMessage) error {
			i, ok := index[key]
			if !ok {
				return nil
			}
			switch {
			case len(v) > 0 && v[0] == '"':
				var str string
				if err := json.Unmarshal(v, &str); err != nil {
					return err
				}
				row[i] = str
			case string(v) == "null":
			default:
				row[i] = string(v)
			}
			return nil
		})
		if err != nil {
			return err
		}
		return cw.Write(row)
	})
	if err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// eachKey calls fn with each top-level key of a JSON object and its value
// (compact), in order.
func eachKey(obj json.RawMessage, fn func(key string, v json.RawMessage) error) error {
	dec := json.NewDecoder(bytes.NewReader(obj))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("an item is not a JSON object: %.40s", obj)
	}
	var v json.RawMessage
	var buf bytes.Buffer
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		if err := dec.Decode(&v); err != nil {
			return err
		}
		if bytes.ContainsAny(v, " \t\r\n") {
			buf.Reset()
			if json.Compact(&buf, v) == nil {
				v = buf.Bytes()
			}
		}
		if err := fn(key, v); err != nil {
			return err
		}
	}
	return nil
}

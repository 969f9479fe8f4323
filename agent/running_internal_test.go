package agent

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
)

func TestRunningJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "running.journal")
	j, err := openRunning(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.close()
	for i := range 3 {
		if err := j.started("t"+strconv.Itoa(i), 100+i, uint64(1000+i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.ended("t1"); err != nil {
		t.Fatal(err)
	}
	if err := j.ended("never-started"); err != nil {
		t.Fatal(err)
	}
	// A crash in the middle of a line leaves it torn: it is skipped.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("start t9 12")
	f.Close()

	got, err := readRunning(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]runningEntry{"t0": {100, 1000}, "t2": {102, 1002}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read %v, want %v", got, want)
	}
}

func TestRunningJournalStaysSmall(t *testing.T) {
	path := filepath.Join(t.TempDir(), "running.journal")
	j, err := openRunning(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.close()
	if err := j.started("long-running", 7, 70); err != nil {
		t.Fatal(err)
	}
	// Enough short tasks to pass the compaction size several times.
	for i := range 60000 {
		id := "short-task-" + strconv.Itoa(i)
		if err := j.started(id, 1000+i, uint64(i)); err != nil {
			t.Fatal(err)
		}
		if err := j.ended(id); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > journalCompactAt+100 {
		t.Errorf("the journal is %d bytes, past its compaction size %d", fi.Size(), journalCompactAt)
	}
	got, err := readRunning(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]runningEntry{"long-running": {7, 70}}; !reflect.DeepEqual(got, want) {
		t.Errorf("read %v, want %v", got, want)
	}
}

func TestUnreadableRunningJournal(t *testing.T) {
	// A file where the data directory should be: the journal cannot be
	// opened, and the caller still gets a map to add the old pid files to.
	file := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := readRunning(filepath.Join(file, "running.journal"))
	if err == nil {
		t.Errorf("reading a journal under a file: no error")
	}
	if got == nil {
		t.Fatal("readRunning returned a nil map")
	}
	got["t"] = runningEntry{pgid: 1}
}

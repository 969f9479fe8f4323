package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// db is a *sql.DB that prepares each statement once and keeps it. The
// driver otherwise parses a statement's SQL on every call, which took a
// quarter of the CPU of firing schedules.
type db struct {
	*sql.DB
	mu    sync.RWMutex
	stmts map[string]*sql.Stmt
}

// maxStmts bounds the statements kept. The store's SQL comes from a fixed
// set of shapes (a task list's filters make a few dozen), far below it;
// past it, statements are prepared for the call alone.
const maxStmts = 512

func openDB(dsn string) (*db, error) {
	d, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	return &db{DB: d, stmts: map[string]*sql.Stmt{}}, nil
}

// stmt returns the kept statement of query, preparing it the first time;
// keep is false when the caller must close it after use.
func (d *db) stmt(ctx context.Context, query string) (st *sql.Stmt, keep bool, err error) {
	d.mu.RLock()
	st = d.stmts[query]
	d.mu.RUnlock()
	if st != nil {
		return st, true, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if st = d.stmts[query]; st != nil {
		return st, true, nil
	}
	if st, err = d.DB.PrepareContext(ctx, query); err != nil {
		return nil, false, err
	}
	if len(d.stmts) >= maxStmts {
		return st, false, nil
	}
	d.stmts[query] = st
	return st, true, nil
}

func (d *db) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, keep, err := d.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if !keep {
		defer st.Close()
	}
	return st.ExecContext(ctx, args...)
}

func (d *db) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, keep, err := d.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if !keep {
		// Closing a statement waits for its rows to be closed.
		defer st.Close()
	}
	return st.QueryContext(ctx, args...)
}

func (d *db) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, keep, err := d.stmt(ctx, query)
	if err != nil || !keep {
		if st != nil {
			st.Close()
		}
		// The plain call reports the same error (or, past maxStmts, does
		// the work) with a *sql.Row, which only it can make.
		return d.DB.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// Close closes the kept statements, then the database.
func (d *db) Close() error {
	d.mu.Lock()
	var errs []error
	for q, st := range d.stmts {
		errs = append(errs, st.Close())
		delete(d.stmts, q)
	}
	d.mu.Unlock()
	return errors.Join(append(errs, d.DB.Close())...)
}

// inTx runs fn in one write transaction, with the statements of queries
// (the store's fixed set) prepared once for the store, not per
// transaction. They are prepared before the transaction begins: the writer
// has one connection, which the transaction holds.
func (d *db) inTx(ctx context.Context, queries []string, fn func(stmts []*sql.Stmt) error) error {
	kept := make([]*sql.Stmt, len(queries))
	for i, q := range queries {
		st, keep, err := d.stmt(ctx, q)
		if err != nil {
			return err
		}
		if !keep {
			defer st.Close()
		}
		kept[i] = st
	}
	tx, err := d.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmts := make([]*sql.Stmt, len(kept))
	for i, st := range kept {
		stmts[i] = tx.StmtContext(ctx, st)
	}
	if err := fn(stmts); err != nil {
		return err
	}
	return tx.Commit()
}

// Package e2e holds end-to-end tests of masters and agents wired in one
// test process: the in-process bus with the SQLite store (the all-in-one),
// or real Redis with the Mongo-compatible test server (a cluster).
package e2e

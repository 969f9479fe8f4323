// Package tasklog is the agent's log writer for one task: it numbers the
// lines of the task's merged stdout and stderr from 0, keeps them in a local
// file, publishes them live in batches, and saves them to the store as it
// goes, so that no line is ever lost.
//
// Three copies, three promises:
//
//   - The file is written first, synchronously by Write, so it always holds
//     every whole line the task printed. Its lines are the numbered lines
//     (already split and sanitised, one per '\n'), which lets Read serve any
//     range from a sparse in-memory index of offsets, and lets the saver and
//     Recover work from nothing but a byte offset.
//   - The store gets the lines from the file, at least every
//     Config.SaveEvery and completely on Close. A store outage costs no
//     memory (the file is the backlog) and no lines (AppendLog is
//     idempotent, so a failed round is simply retried). After a crash,
//     Recover uploads what the store is missing.
//   - Live viewers get wire.LogBatch messages, by size and by time, in
//     order, each line once. Write never waits for the network: when
//     Publish falls a queue behind, the publisher reads the lines it missed
//     back from the file. Only a failed Publish, or a publisher so far
//     behind that it skips to the newest lines, loses lines, for live
//     viewers only (logged); a viewer that sees a gap fetches it with
//     get_log.
//
// Memory stays bounded whatever the output rate or an outage's length: a
// Write's buffers by its chunk size, the live queue by a number of batches,
// saving and catching up by one chunk of the file each.
package tasklog

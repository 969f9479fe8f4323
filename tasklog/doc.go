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
// A task's items go through a Writer too, with the same promises: each
// item is one line of compact JSON, and ItemStore (items.go) saves the
// lines with store.Items instead of store.Logs. The agent publishes the
// batches as wire.ItemBatch.
//
// Memory stays bounded whatever the output rate or an outage's length: a
// Write's buffers by its chunk size, the live queue by a number of batches,
// saving and catching up by one chunk of the file each. Disk and store stay
// bounded by Config.MaxBytes: past it the output is counted, not kept, and
// the log says so. A file that cannot be written (a full disk) is never
// papered over: Write returns the error from then on (WriteErr), so the
// log ends at its last whole line before the failure, with no gap.
//
// # Parts
//
// A Writer is a pipeline of parts, each in its own file with one job; Write
// drives the first four, in this order, on the caller's goroutine:
//
//	limit.go      outputLimit keeps the first MaxBytes of output, counts the rest
//	split.go      splitter    cuts the output into lines (CRLF, UTF-8, MaxLine)
//	localfile.go  localFile   appends them to the file, which numbers them; Read
//	batcher.go    batcher     cuts them into batches by size and by time
//	publisher.go  publisher   sends batches, and the backlog from the file
//	saver.go      saver       copies the file to the store (upload.go: how)
//	items.go      ItemStore   the store of a Writer of items
//	file.go                   the file's format: index, lineReader
//	writer.go     Writer      Open, Write, Read, Close: wires the parts
//
// # Goroutines
//
// Open starts up to three; the Writer owns them and Close ends them all
// before it returns:
//
//   - batcher.run (only with Publish) seals a batch BatchDelay after its
//     first line. It exits when Close calls batcher.close, which closes its
//     stop channel, then seals the last batch and closes the queue.
//   - publisher.run (only with Publish) sends the queued batches, and reads
//     back from the file the lines the batcher could not queue. It exits
//     once the queue is closed and drained and the backlog is sent. If
//     Close's ctx ends first, Close cancels the publisher's ctx: the rest is
//     dropped (and logged) and it exits at once.
//   - saver.run saves every SaveEvery. Close cancels the round in flight
//     and hands it its ctx for the final save, after which it exits; if
//     that ctx has already ended, Close closes quit instead.
//
// Write (one goroutine at a time: the task's output) and Close (after the
// last Write) are the caller's; Lines and Read may be called from any
// goroutine.
//
// # Locks
//
// Each guards one part's state and is held only for bookkeeping, never
// during I/O or a send that could block:
//
//   - localFile.mu: the file's extent (lines, size, index). append moves
//     it; everyone else reads it.
//   - localFile.fileMu: f against being closed while Read uses it (Read
//     holds it shared, close exclusively). Taken before localFile.mu.
//   - batcher.mu: the batch being built, the backlog (behind, catchFrom)
//     and sends on the queue, so sealed batches stay in line order.
//   - Writer.closeMu: Close's result, so a second Close returns the same.
//     It is held through Close, outside all the others.
//
// localFile.mu and batcher.mu are never held together. Their order in time
// is what keeps the backlog right: Write appends lines to the file before
// it adds them to the batcher, so every line the batcher knows of is in
// the file when the publisher goes to read it. State used by one goroutine
// only (the splitter; the publisher's failure flag and loss report; the
// saver's uploader) has no lock.
package tasklog

// Package loglevel reads a task's log as it is written: it counts error and
// warning lines by rules meant to hold for Python's logging, Scrapy, and
// the common "TIME LEVEL message" formats without counting a URL or a
// sentence that merely contains "error", and it picks up the stats dump
// Scrapy prints at its end. The agent counts with it while a task runs,
// and a log search with a level uses the same Counter, so that "jump to
// the next error" lands on exactly the lines the count counted.
//
// The rules (docs/logs.md has them for users):
//
//   - A line's level is its first level word: an upper-case word among
//     TRACE, DEBUG, INFO, NOTICE, WARN, WARNING, ERROR, CRITICAL, FATAL,
//     alone between separators (start or end of line, space, tab, [ ] ( ) |
//     : , = " and '-' before it; the same, or '.', after it), within the
//     first HeaderBytes of the line. ERROR, CRITICAL and FATAL make an error
//     line; WARN and WARNING a warning; the others make the line neither,
//     so "INFO: got ERROR 500" is not an error.
//   - Lower- and mixed-case words never count ("error rate", "/error/page",
//     "Error:"), except in key=value logs: level=error (any case, also
//     level=warn, level=warning, level=fatal, level=critical) and JSON's
//     "level":"error".
//   - "Traceback (most recent call last):" at the start of a line is one
//     error for the whole traceback, unless it continues an error already
//     counted (Scrapy and logging.exception print the ERROR line, then the
//     traceback); the frames and chained tracebacks that follow it are part
//     of it.
//   - The lines of Scrapy's stats dump are not classified.
package loglevel

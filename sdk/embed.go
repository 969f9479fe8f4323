// Package sdk holds the helpers spiders use to save items (sdk/python,
// sdk/node), embedded into the binary so that an agent can put them on
// every task's PYTHONPATH and NODE_PATH with nothing installed.
package sdk

import "embed"

// FS holds python/ (the crawlhub package, with its Scrapy pipeline) and
// node/ (the crawlhub module).
//
//go:embed all:python all:node
var FS embed.FS

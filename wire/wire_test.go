package wire_test

import (
	"testing"

	"github.com/crawlhub/crawlhub/wire"
)

// On Redis Cluster the per-node and per-task channels are sharded and
// nodes:master, which every master hears, is not.
func TestSharded(t *testing.T) {
	for ch, want := range map[string]bool{
		wire.MasterChannel:                           false,
		wire.NodeChannel("0123456789abcdef01234567"): true,
		wire.LogChannel("t1"):                        true,
		wire.ItemsChannel("t1"):                      true,
		"crawlhub:other":                             false,
	} {
		if got := wire.Sharded(ch); got != want {
			t.Errorf("Sharded(%q) = %v, want %v", ch, got, want)
		}
	}
}

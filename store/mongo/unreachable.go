package mongo

import (
	"errors"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"

	"github.com/crawlhub/crawlhub/store"
)

var _ store.Unreachable = (*Store)(nil)

// Unreachable implements store.Unreachable: err says the server could not
// be reached (a connection failed or dropped, no server could be selected,
// the client is closed), as opposed to an answer the server gave.
func (s *Store) Unreachable(err error) bool {
	var sel topology.ServerSelectionError
	var conn topology.ConnectionError
	var wait topology.WaitQueueTimeoutError
	return mongo.IsNetworkError(err) || errors.As(err, &sel) || errors.As(err, &conn) || errors.As(err, &wait) ||
		errors.Is(err, topology.ErrTopologyClosed) || errors.Is(err, mongo.ErrClientDisconnected)
}

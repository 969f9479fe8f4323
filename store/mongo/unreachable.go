package mongo

import (
	"errors"
	"strings"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"

	"github.com/crawlhub/crawlhub/store"
)

var _ store.Unreachable = (*Store)(nil)

// Unreachable implements store.Unreachable: err says the server could not
// be reached (a connection failed or dropped, no server could be selected,
// the client is closed) or ran out of time for the call (a time limit the
// driver set from the call's deadline: an overloaded server), as opposed to
// an answer the server gave about the call itself.
func (s *Store) Unreachable(err error) bool {
	var sel topology.ServerSelectionError
	var conn topology.ConnectionError
	var wait topology.WaitQueueTimeoutError
	return mongo.IsNetworkError(err) || errors.As(err, &sel) || errors.As(err, &conn) || errors.As(err, &wait) ||
		errors.Is(err, topology.ErrTopologyClosed) || errors.Is(err, mongo.ErrClientDisconnected) ||
		mongo.IsTimeout(err) || ferretTimeLimit(err)
}

// ferretTimeLimit is FerretDB v1's answer to a query past its maxTimeMS:
// InternalError (code 1) naming SQLite's "interrupted" where MongoDB
// answers MaxTimeMSExpired (code 50, which mongo.IsTimeout knows).
func ferretTimeLimit(err error) bool {
	var se mongo.ServerError
	return errors.As(err, &se) && se.HasErrorCode(1) &&
		(strings.Contains(err.Error(), "handleMaxTimeMSError") || strings.Contains(err.Error(), "interrupted (9)"))
}

package mongo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/crawlhub/crawlhub/store"
)

// Node history lives in the collection node_metrics, one document per
// (node, resolution, slot) with that triple as its _id, inserted once: a
// second insert of a slot finds its _id taken and is dropped. (An upsert
// would do the same, but on FerretDB v1 an update, even by _id, scans the
// whole collection, and an insert does not.) Each document says when it expires; a TTL index on that
// field lets MongoDB remove old points itself, and where the server has no
// TTL indexes (FerretDB v1) Expire deletes them.

func (s *Store) NodeMetrics() store.NodeMetrics { return (*nodeMetrics)(s) }

type nodeMetrics Store

type nodePointDoc struct {
	ID        string    `bson:"_id"`
	NodeID    string    `bson:"node_id"`
	Res       int64     `bson:"res"` // seconds
	At        time.Time `bson:"at"`
	Expires   time.Time `bson:"expires"`
	CPU       float64   `bson:"cpu"`
	MemUsed   int64     `bson:"mem_used"`
	MemTotal  int64     `bson:"mem_total"`
	DiskUsed  int64     `bson:"disk_used"`
	DiskTotal int64     `bson:"disk_total"`
	NetRx     float64   `bson:"net_rx"`
	NetTx     float64   `bson:"net_tx"`
	Load1     float64   `bson:"load1"`
}

// nodeMetricsIndexes makes the index Range reads by and the one expiry
// goes by: a TTL index where the server has them, else a plain one for
// Expire's delete.
func (s *Store) nodeMetricsIndexes(ctx context.Context) error {
	c := s.db.Collection("node_metrics")
	if _, err := c.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{
		{Key: "node_id", Value: 1}, {Key: "res", Value: 1}, {Key: "at", Value: 1},
	}}); err != nil {
		return fmt.Errorf("create index on node_metrics: %w", err)
	}
	expires := bson.D{{Key: "expires", Value: 1}}
	_, err := c.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: expires, Options: options.Index().SetExpireAfterSeconds(0)})
	var ce mongo.CommandError
	if errors.As(err, &ce) && (ce.Name == "NotImplemented" || ce.Code == codeNotImplemented) {
		_, err = c.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: expires})
		s.metricsTTL = false
	} else if err == nil {
		s.metricsTTL = true
	}
	if err != nil {
		return fmt.Errorf("create index on node_metrics: %w", err)
	}
	return nil
}

// codeNotImplemented is the server's error code for an option it lacks
// (FerretDB v1's answer to expireAfterSeconds).
const codeNotImplemented = 238

func (s *nodeMetrics) coll() *mongo.Collection { return s.db.Collection("node_metrics") }

func (s *nodeMetrics) Add(ctx context.Context, nodeID string, res time.Duration, p store.NodePoint) error {
	if err := checkID(nodeID); err != nil {
		return fmt.Errorf("store: add node point: %w", err)
	}
	r, ok := store.NodeResolutionOf(res)
	if !ok {
		return fmt.Errorf("store: add node point: %w", store.CheckNodeResolution(res))
	}
	at := ms(p.At.Truncate(res))
	secs := int64(res / time.Second)
	d := nodePointDoc{
		ID:     nodeID + "/" + strconv.FormatInt(secs, 10) + "/" + strconv.FormatInt(at.UnixMilli(), 10),
		NodeID: nodeID, Res: secs, At: at, Expires: at.Add(r.Keep),
		CPU: p.CPU, MemUsed: int64(p.MemUsed), MemTotal: int64(p.MemTotal),
		DiskUsed: int64(p.DiskUsed), DiskTotal: int64(p.DiskTotal),
		NetRx: p.NetRx, NetTx: p.NetTx, Load1: p.Load1,
	}
	_, err := s.coll().InsertOne(ctx, d)
	if mongo.IsDuplicateKeyError(err) {
		return nil // the slot has its point: another master's, or an earlier heartbeat's
	}
	if err != nil {
		return fmt.Errorf("store: add node point: %w", s.redact.err(err))
	}
	return nil
}

func (s *nodeMetrics) Range(ctx context.Context, nodeID string, res time.Duration, from, to time.Time) ([]store.NodePoint, error) {
	if err := checkID(nodeID); err != nil {
		return nil, fmt.Errorf("store: node points: %w", err)
	}
	if err := store.CheckNodeResolution(res); err != nil {
		return nil, fmt.Errorf("store: node points: %w", err)
	}
	filter := bson.D{
		{Key: "node_id", Value: nodeID}, {Key: "res", Value: int64(res / time.Second)},
		{Key: "at", Value: bson.D{{Key: "$gte", Value: ms(from)}, {Key: "$lt", Value: ms(to)}}},
	}
	pts, err := findAll(ctx, s.coll(), filter, func(d *nodePointDoc) store.NodePoint {
		return store.NodePoint{
			At: d.At.UTC(), CPU: d.CPU, MemUsed: uint64(d.MemUsed), MemTotal: uint64(d.MemTotal),
			DiskUsed: uint64(d.DiskUsed), DiskTotal: uint64(d.DiskTotal), NetRx: d.NetRx, NetTx: d.NetTx, Load1: d.Load1,
		}
	}, options.Find().SetSort(bson.D{{Key: "at", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("store: node points: %w", s.redact.err(err))
	}
	return pts, nil
}

// Expire deletes expired points where the server has no TTL index to do
// it; with one it does nothing (MongoDB's TTL monitor runs every minute).
func (s *nodeMetrics) Expire(ctx context.Context, now time.Time) error {
	if s.metricsTTL {
		return nil
	}
	_, err := s.coll().DeleteMany(ctx, bson.D{{Key: "expires", Value: bson.D{{Key: "$lt", Value: ms(now)}}}})
	if err != nil {
		return fmt.Errorf("store: expire node points: %w", s.redact.err(err))
	}
	return nil
}

// ExpiresItself reports whether the database removes expired points on
// its own (a TTL index), so that Expire leaves them to it.
func (s *nodeMetrics) ExpiresItself() bool { return s.metricsTTL }

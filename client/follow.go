package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/crawlhub/crawlhub/wsapi"
)

// Follow prints a task's log from line since until the task ends, calling
// line for each line in order and returning the task's final status. When
// the connection drops it reconnects and resubscribes with since set to
// the next line, so no line is missed or repeated. It gives up when ctx
// ends or the server refuses the subscription, but for -32011 (the store,
// which the backlog is read from, did not answer in time): that is
// retried.
//
// base may list several masters separated by commas: each reconnect goes
// to the next. A master that is shutting down closes with 1012
// (wsapi.CloseServiceRestart): the follower reconnects at once, without
// backing off.
func Follow(ctx context.Context, base, token, taskID string, since int64, line func(n int64, text string) error) (string, error) {
	return follow(ctx, base, token, wsapi.LogChannel(taskID), since, func(data json.RawMessage) (*batch[string], error) {
		var d wsapi.LogData
		err := json.Unmarshal(data, &d)
		return &batch[string]{d.From, d.Lines, d.End, d.Status}, err
	}, line)
}

// FollowItems is Follow for a task's items: it calls item for each item
// from number since on, in order, each the JSON object the spider saved,
// until the task ends.
func FollowItems(ctx context.Context, base, token, taskID string, since int64, item func(n int64, item json.RawMessage) error) (string, error) {
	return follow(ctx, base, token, wsapi.ItemsChannel(taskID), since, func(data json.RawMessage) (*batch[json.RawMessage], error) {
		var d wsapi.ItemsData
		err := json.Unmarshal(data, &d)
		return &batch[json.RawMessage]{d.From, d.Items, d.End, d.Status}, err
	}, item)
}

// batch is one notification on a task's log or items channel.
type batch[E any] struct {
	from    int64
	entries []E
	end     bool
	status  string
}

var errEntry = errors.New("callback failed")

func follow[E any](ctx context.Context, base, token, channel string, since int64,
	decode func(json.RawMessage) (*batch[E], error), each func(int64, E) error) (string, error) {
	next := since
	bases := strings.Split(base, ",")
	const firstBackoff = 200 * time.Millisecond
	backoff := firstBackoff
	for try := 0; ; try++ {
		status, err := followOnce(ctx, strings.TrimSpace(bases[try%len(bases)]), token, channel, &next, decode, each)
		if err == nil {
			return status, nil
		}
		// A refusal is final, but for a store that did not answer in time:
		// the backlog is read from it, and it may be back in a moment.
		var rpcErr *Error
		refused := errors.As(err, &rpcErr) && rpcErr.Code != wsapi.CodeStoreUnavailable
		if ctx.Err() != nil || refused || errors.Is(err, ErrFollowGap) || errors.Is(err, errEntry) {
			return "", err
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) && ce.Code == wsapi.CloseServiceRestart {
			backoff = firstBackoff
			continue // to the next master, now
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func followOnce[E any](ctx context.Context, base, token, channel string, next *int64,
	decode func(json.RawMessage) (*batch[E], error), each func(int64, E) error) (string, error) {
	c, err := Dial(ctx, base, token)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.Subscribe(ctx, channel, *next); err != nil {
		return "", err
	}
	for {
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case p, ok := <-c.Publications():
			if !ok {
				var ce *websocket.CloseError
				if err := c.Err(); errors.As(err, &ce) {
					return "", fmt.Errorf("server closed the connection: %w", ce)
				}
				return "", fmt.Errorf("connection lost: %w", c.Err())
			}
			if p.Channel != channel {
				continue
			}
			b, err := decode(p.Data)
			if err != nil {
				return "", fmt.Errorf("malformed data on %s: %w", channel, err)
			}
			if b.end {
				return b.status, nil
			}
			if b.from != *next {
				return "", fmt.Errorf("%w: expected %d, got %d", ErrFollowGap, *next, b.from)
			}
			for i, e := range b.entries {
				if err := each(b.from+int64(i), e); err != nil {
					return "", fmt.Errorf("%w: %w", errEntry, err)
				}
				*next = b.from + int64(i) + 1
			}
		}
	}
}

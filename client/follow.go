package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gorilla/websocket"

	"github.com/crawlhub/crawlhub/wsapi"
)

// Follow prints a task's log from line since until the task ends, calling
// line for each line in order and returning the task's final status. When
// the connection drops it reconnects and resubscribes with since set to
// the next line, so no line is missed or repeated. It gives up when ctx
// ends or the server refuses the subscription.
func Follow(ctx context.Context, base, token, taskID string, since int64, line func(n int64, text string) error) (string, error) {
	next := since
	backoff := 200 * time.Millisecond
	for {
		status, err := followOnce(ctx, base, token, taskID, &next, line)
		if err == nil {
			return status, nil
		}
		var rpcErr *Error
		if ctx.Err() != nil || errors.As(err, &rpcErr) || errors.Is(err, ErrFollowGap) || errors.Is(err, errLine) {
			return "", err
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

var errLine = errors.New("line callback failed")

func followOnce(ctx context.Context, base, token, taskID string, next *int64, line func(int64, string) error) (string, error) {
	c, err := Dial(ctx, base, token)
	if err != nil {
		return "", err
	}
	defer c.Close()
	ch := wsapi.LogChannel(taskID)
	if err := c.Subscribe(ctx, ch, *next); err != nil {
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
					return "", fmt.Errorf("server closed the connection: %d %s", ce.Code, ce.Text)
				}
				return "", fmt.Errorf("connection lost: %w", c.Err())
			}
			if p.Channel != ch {
				continue
			}
			var d wsapi.LogData
			if err := json.Unmarshal(p.Data, &d); err != nil {
				return "", fmt.Errorf("malformed log data: %w", err)
			}
			if d.End {
				return d.Status, nil
			}
			if d.From != *next {
				return "", fmt.Errorf("%w: expected line %d, got %d", ErrFollowGap, *next, d.From)
			}
			for i, l := range d.Lines {
				if err := line(d.From+int64(i), l); err != nil {
					return "", fmt.Errorf("%w: %w", errLine, err)
				}
				*next = d.From + int64(i) + 1
			}
		}
	}
}

package hub

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/crawlhub/crawlhub/wsapi"
)

type request struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`

	start time.Time // when it was read, for Config.Observe
}

func (r *request) idOrNull() json.RawMessage {
	if r == nil {
		return nil
	}
	return r.ID
}

type rpcError = wsapi.Error

func parseRequest(msg []byte) (*request, *rpcError) {
	msg = bytes.TrimSpace(msg)
	if len(msg) > 0 && msg[0] == '[' {
		return nil, &rpcError{Code: wsapi.CodeInvalidRequest, Message: "batch requests are not supported: send one request per frame"}
	}
	req := new(request)
	if err := json.Unmarshal(msg, req); err != nil {
		return nil, &rpcError{Code: wsapi.CodeParse, Message: "parse error: " + err.Error() + `; send one JSON object per frame, like {"jsonrpc":"2.0","id":1,"method":"` + wsapi.MethodNodesList + `"}`}
	}
	if req.JSONRPC != "2.0" || req.Method == "" {
		return req, &rpcError{Code: wsapi.CodeInvalidRequest, Message: `invalid request: "jsonrpc" must be "2.0" and "method" a non-empty string`}
	}
	if len(req.ID) > 0 && req.ID[0] != '"' && !(req.ID[0] >= '0' && req.ID[0] <= '9') && req.ID[0] != '-' && string(req.ID) != "null" {
		return nil, &rpcError{Code: wsapi.CodeInvalidRequest, Message: "invalid request: id must be a string or a number"}
	}
	return req, nil
}

// decodeParams decodes params strictly, so a misspelt field is an error a
// person sees rather than a silent default.
func decodeParams(raw json.RawMessage, v any) *rpcError {
	if len(raw) == 0 || string(raw) == "null" {
		raw = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &rpcError{Code: wsapi.CodeInvalidParams, Message: "invalid params: " + err.Error()}
	}
	return nil
}

type response struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  any             `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
}

func encodeResponse(id json.RawMessage, result any, rerr *rpcError) ([]byte, error) {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	if rerr == nil && result == nil {
		result = struct{}{}
	}
	return json.Marshal(response{JSONRPC: "2.0", ID: id, Result: result, Error: rerr})
}

type notification struct {
	JSONRPC string                 `json:"jsonrpc"`
	Method  string                 `json:"method"`
	Params  wsapi.Publication[any] `json:"params"`
}

// encodePublish encodes the notification of data on channel. Log lines
// and items are encoded by hand instead (see appendPublish).
func encodePublish(channel string, data any) ([]byte, error) {
	return json.Marshal(notification{JSONRPC: "2.0", Method: wsapi.MethodPublish, Params: wsapi.Publication[any]{Channel: channel, Data: data}})
}

func (c *Client) subscribe(req *request) {
	var p wsapi.SubscribeParams
	if rerr := decodeParams(req.Params, &p); rerr != nil {
		c.answer(req, nil, rerr)
		return
	}
	taskID, k := streamOf(p.Channel)
	switch {
	case p.Channel == wsapi.ChannelNodes || p.Channel == wsapi.ChannelTasks || p.Channel == wsapi.ChannelSpiders || p.Channel == wsapi.ChannelSchedules ||
		p.Channel == wsapi.ChannelAudit || p.Channel == wsapi.ChannelWebhooks || p.Channel == wsapi.ChannelSystem:
		if p.Since != nil {
			c.answer(req, nil, &rpcError{Code: wsapi.CodeInvalidParams, Message: "since applies to task log and items channels only"})
			return
		}
	case k != nil:
		if p.Since != nil && *p.Since < 0 {
			c.answer(req, nil, &rpcError{Code: wsapi.CodeInvalidParams, Message: "since is a line or item number, 0 or more"})
			return
		}
	default:
		c.answer(req, nil, &rpcError{Code: wsapi.CodeInvalidParams, Message: fmt.Sprintf("unknown channel %q: use %s, %s, %s, %s, %s, %s, %s, %s or %s", p.Channel,
			wsapi.ChannelNodes, wsapi.ChannelTasks, wsapi.ChannelSpiders, wsapi.ChannelSchedules, wsapi.ChannelAudit, wsapi.ChannelWebhooks, wsapi.ChannelSystem, wsapi.LogChannel("<task_id>"), wsapi.ItemsChannel("<task_id>"))})
		return
	}
	if authz := c.hub.cfg.AuthorizeChannel; authz != nil {
		if err := authz(c.principal, p.Channel); err != nil {
			c.answer(req, nil, c.hub.rpcError(err))
			return
		}
	}
	if _, ok := c.subs[p.Channel]; ok {
		c.answer(req, nil, &rpcError{Code: wsapi.CodeAlreadySubscribed, Message: "already subscribed to " + p.Channel + "; unsubscribe first to start again from another line"})
		return
	}
	if len(c.subs) >= c.hub.cfg.MaxSubscriptions {
		c.answer(req, nil, &rpcError{Code: wsapi.CodeTooManySubs, Message: fmt.Sprintf("too many subscriptions: at most %d per connection", c.hub.cfg.MaxSubscriptions)})
		return
	}
	if k == nil {
		c.hub.mu.Lock()
		m := c.hub.subs[p.Channel]
		if m == nil {
			m = map[*Client]*streamSub{}
			c.hub.subs[p.Channel] = m
		}
		m[c] = nil
		delete(c.hub.lists, p.Channel)
		c.hub.mu.Unlock()
		c.subs[p.Channel] = struct{}{}
		c.answer(req, map[string]any{"channel": p.Channel}, nil)
		c.sendInitial(p.Channel)
		return
	}
	since := int64(0)
	if p.Since != nil {
		since = *p.Since
	}
	start, rerr := c.subscribeStream(k, taskID, p.Channel, since)
	if rerr != nil {
		c.answer(req, nil, rerr)
		return
	}
	c.answer(req, map[string]any{"channel": p.Channel, "since": since}, nil)
	start()
}

func (c *Client) unsubscribe(req *request) {
	var p wsapi.UnsubscribeParams
	if rerr := decodeParams(req.Params, &p); rerr != nil {
		c.answer(req, nil, rerr)
		return
	}
	if _, ok := c.subs[p.Channel]; !ok {
		c.answer(req, nil, &rpcError{Code: wsapi.CodeInvalidParams, Message: "not subscribed to " + p.Channel})
		return
	}
	delete(c.subs, p.Channel)
	c.hub.mu.Lock()
	delete(c.hub.lists, p.Channel)
	if m := c.hub.subs[p.Channel]; m != nil {
		if s := m[c]; s != nil {
			s.stop()
		}
		delete(m, c)
		if len(m) == 0 {
			delete(c.hub.subs, p.Channel)
		}
	}
	c.hub.mu.Unlock()
	if id, k := streamOf(p.Channel); k != nil {
		c.hub.release(k.upstream(id))
	}
	c.answer(req, map[string]any{"channel": p.Channel}, nil)
}

// Errorf returns an error the hub sends with the given JSON-RPC code.
func Errorf(code int, format string, args ...any) error {
	return &rpcError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// DecodeParams decodes params strictly (unknown fields are an error) into
// v, returning an invalid-params error a person can act on.
func DecodeParams(raw json.RawMessage, v any) error {
	if rerr := decodeParams(raw, v); rerr != nil {
		return rerr
	}
	return nil
}

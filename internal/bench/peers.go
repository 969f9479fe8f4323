package bench

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// bareChannel is the Redis channel the bare server relays (not
// Centrifugo's, which runs on the same Redis at the same time).
const bareChannel = "bench-bare"

// floorChannel is the Redis channel the write floor relays.
const floorChannel = "bench-floor"

// startBare starts the bare gorilla server (the harness's own
// "bare-server" command) as a subprocess, on Redis channel bareChannel.
func (r *run) startBare(ctx context.Context, rd *Redis) (*Proc, string, error) {
	return r.startBareKind(ctx, rd, "bare", bareChannel, "false")
}

// startFloor starts the write floor (see floorHub), on floorChannel.
func (r *run) startFloor(ctx context.Context, rd *Redis) (*Proc, string, error) {
	return r.startBareKind(ctx, rd, "floor", floorChannel, "true")
}

func (r *run) startBareKind(ctx context.Context, rd *Redis, name, channel, floor string) (*Proc, string, error) {
	port, err := FreePort()
	if err != nil {
		return nil, "", err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	p, err := r.procs.Start(name, nil, nil, r.cfg.HarnessBin, "bare-server", "--listen", addr, "--redis", rd.URL, "--channel", channel, "--floor", floor)
	if err != nil {
		return nil, "", err
	}
	if err := waitHTTP(ctx, p, "http://"+addr+"/healthz", 20*time.Second); err != nil {
		return nil, "", err
	}
	return p, "ws://" + addr + "/ws", nil
}

func (r *run) bareScenarios(ctx context.Context, rd *Redis) {
	if r.want("4") {
		p, url, err := r.startBare(ctx, rd)
		if err != nil {
			r.fail("bare server", err)
			return
		}
		row, clients, err := r.measureIdle(ctx, KindBare, p, Sub{Kind: KindBare, URL: url, Channel: bareChannel})
		if err != nil {
			r.fail("scenario 4 bare", err)
		} else {
			CloseAll(clients)
			r.res.Idle = append(r.res.Idle, row)
		}
		p.Stop(10 * time.Second)
	}
}

// startCentrifugo starts Centrifugo with its Redis engine on rd, anonymous
// connections allowed to subscribe to channels without a namespace (no
// JWT to sign or check: crawlhub's clients send a static token), and the
// HTTP API open on loopback.
func (r *run) startCentrifugo(ctx context.Context, rd *Redis) (*Proc, int, error) {
	port, err := FreePort()
	if err != nil {
		return nil, 0, err
	}
	conf := map[string]any{
		"http_server": map[string]any{"address": "127.0.0.1", "port": port},
		"log":         map[string]any{"level": "error"},
		"engine":      map[string]any{"type": "redis", "redis": map[string]any{"address": []string{"redis://" + rd.Addr}}},
		"client":      map[string]any{"allow_anonymous_connect_without_token": true},
		"channel": map[string]any{"without_namespace": map[string]any{
			"allow_subscribe_for_anonymous": true, "allow_subscribe_for_client": true}},
		"http_api":    map[string]any{"insecure": true},
		"health":      map[string]any{"enabled": true},
		"usage_stats": map[string]any{"disabled": true},
	}
	dir, err := os.MkdirTemp(r.cfg.WorkDir, "centrifugo-")
	if err != nil {
		return nil, 0, err
	}
	b, _ := json.MarshalIndent(conf, "", "  ")
	path := filepath.Join(dir, "config.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return nil, 0, err
	}
	p, err := r.procs.Start("centrifugo", nil, nil, r.cfg.CentrifugoBin, "--config", path)
	if err != nil {
		return nil, 0, err
	}
	if err := waitHTTP(ctx, p, "http://127.0.0.1:"+strconv.Itoa(port)+"/health", 30*time.Second); err != nil {
		return nil, 0, err
	}
	return p, port, nil
}

func (r *run) centrifugoScenarios(ctx context.Context, rd *Redis) {
	if r.cfg.CentrifugoBin == "" {
		r.logf("centrifugo not available: %s; its columns say so", r.cfg.CentrifugoMissing)
		return
	}
	if r.want("4") {
		p, port, err := r.startCentrifugo(ctx, rd)
		if err != nil {
			r.fail("centrifugo", err)
			return
		}
		url := "ws://127.0.0.1:" + strconv.Itoa(port) + "/connection/websocket"
		row, clients, err := r.measureIdle(ctx, KindCentrifugo, p, Sub{Kind: KindCentrifugo, URL: url, Channel: "bench"})
		if err != nil {
			r.fail("scenario 4 centrifugo", err)
		} else {
			CloseAll(clients)
			r.res.Idle = append(r.res.Idle, row)
		}
		p.Stop(10 * time.Second)
	}
}

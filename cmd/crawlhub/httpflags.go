package main

import (
	"flag"
	"fmt"

	"github.com/crawlhub/crawlhub/server"
)

// httpFlags are the HTTP server's hardening settings, shared by
// `crawlhub server` and the all-in-one (docs/security.md, "The HTTP
// server").
type httpFlags struct {
	tlsCert, tlsKey string
	trustedProxies  string
	maxWS           int
	maxWSPerAddress int
}

func (f *httpFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate (with its chain) to serve HTTPS and HTTP/2 with; needs --tls-key")
	fs.StringVar(&f.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&f.trustedProxies, "trusted-proxies", "", "comma-separated addresses or CIDR ranges of reverse proxies whose X-Forwarded-For names the client (e.g. 10.0.0.0/8); none trusted by default")
	fs.IntVar(&f.maxWS, "max-ws", 0, "most WebSocket connections open at once (0: 10000); more are refused with 503")
	fs.IntVar(&f.maxWSPerAddress, "max-ws-per-address", 0, "most WebSocket connections open at once from one client address (0: 100); more are refused with 429")
}

func (f *httpFlags) apply(cfg *server.Config) error {
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return fmt.Errorf("--tls-cert and --tls-key go together: give both (or neither, for plain HTTP)")
	}
	if f.maxWS < 0 || f.maxWSPerAddress < 0 {
		return fmt.Errorf("--max-ws and --max-ws-per-address cannot be negative (0 means the default)")
	}
	proxies, err := server.ParseTrustedProxies(f.trustedProxies)
	if err != nil {
		return fmt.Errorf("--trusted-proxies: %w", err)
	}
	cfg.TLSCert, cfg.TLSKey = f.tlsCert, f.tlsKey
	cfg.TrustedProxies = proxies
	cfg.MaxWebSockets, cfg.MaxWebSocketsPerAddress = f.maxWS, f.maxWSPerAddress
	return nil
}

package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// busFlags are how masters and agents get the cluster secret that signs
// the bus (docs/security.md, "The bus"). The all-in-one has none: its bus
// never leaves the process.
type busFlags struct {
	secret     string
	secretFile string
	insecure   bool
}

func (f *busFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.secret, "cluster-secret", "", "secret shared by every master and agent; signs every message on the bus (at least 16 bytes, e.g. openssl rand -hex 32)")
	fs.StringVar(&f.secretFile, "cluster-secret-file", "", "file holding the cluster secret (instead of --cluster-secret; surrounding white space is ignored)")
	fs.BoolVar(&f.insecure, "insecure-bus", false, "run without a cluster secret: anyone who can publish on the Redis can command the agents and fool the masters")
}

// clusterSecret is the secret to sign the bus with; empty (with nil
// error) only under --insecure-bus.
func (f *busFlags) clusterSecret(log *slog.Logger) (string, error) {
	secret := f.secret
	if f.secretFile != "" {
		if secret != "" {
			return "", errors.New("both --cluster-secret and --cluster-secret-file are set (perhaps one from CRAWLHUB_CLUSTER_SECRET); give one")
		}
		b, err := os.ReadFile(f.secretFile)
		if err != nil {
			return "", fmt.Errorf("--cluster-secret-file: %w", err)
		}
		if fi, err := os.Stat(f.secretFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
			log.Warn("the cluster secret file can be read by other users; chmod 600 it", "file", f.secretFile, "mode", fi.Mode().Perm().String())
		}
		if secret = strings.TrimSpace(string(b)); secret == "" {
			return "", fmt.Errorf("--cluster-secret-file %s is empty", f.secretFile)
		}
	}
	switch {
	case secret != "" && f.insecure:
		return "", errors.New("--insecure-bus and a cluster secret are both set; give one")
	case secret == "" && !f.insecure:
		return "", errors.New("the bus needs a cluster secret: pass the same --cluster-secret (or CRAWLHUB_CLUSTER_SECRET, or --cluster-secret-file) " +
			"to every master and agent, e.g. one made with `openssl rand -hex 32`; or pass --insecure-bus to run without one " +
			"(then anyone who can publish on the Redis can command the agents)")
	case f.insecure:
		log.Warn("the bus is not signed (--insecure-bus): anyone who can publish on the Redis can command the agents and fool the masters")
	}
	return secret, nil
}

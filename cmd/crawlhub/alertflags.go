package main

import (
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/crawlhub/crawlhub/server"
	"github.com/crawlhub/crawlhub/server/alerts"
)

// alertFlags configure alerts (docs/alerts.md): the dashboard's address
// for links, the mail server of email alerts, and the retry schedule.
type alertFlags struct {
	publicURL          string
	smtpAddr, smtpFrom string
	smtpUser, smtpPass string
	smtpPassFile       string
	smtpTLS, smtpCA    string
	retry              string
	poll               time.Duration
}

func (f *alertFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.publicURL, "public-url", "", "the dashboard's address as people reach it (e.g. https://crawlhub.example.com); alerts link to it. Empty: alerts carry no links")
	fs.StringVar(&f.smtpAddr, "smtp-addr", "", "mail server of email alerts, host:port (e.g. smtp.example.com:587); see --smtp-tls. Empty: no email alerts")
	fs.StringVar(&f.smtpFrom, "smtp-from", "", "sender address of email alerts (e.g. crawlhub@example.com)")
	fs.StringVar(&f.smtpUser, "smtp-username", "", "username for the mail server (PLAIN, over TLS only); empty: no authentication")
	fs.StringVar(&f.smtpPass, "smtp-password", "", "password for the mail server (prefer the environment variable or --smtp-password-file: other users of the machine can read a command line)")
	fs.StringVar(&f.smtpPassFile, "smtp-password-file", "", "file holding the mail server's password (instead of --smtp-password; surrounding white space is ignored)")
	fs.StringVar(&f.smtpTLS, "smtp-tls", alerts.TLSAuto, "how the mail server's connection is encrypted: auto (TLS from the first byte on port 465, else STARTTLS when offered), implicit (TLS from the first byte) or starttls (STARTTLS, refusing a server without it)")
	fs.StringVar(&f.smtpCA, "smtp-ca-file", "", "PEM file of the authorities the mail server's certificate is checked against (a private CA); empty: the system's")
	fs.StringVar(&f.retry, "alert-retry", "", "comma-separated waits before each retry of a failed alert (default 30s,1m,2m,5m,10m,20m,30m: 8 attempts over about an hour)")
	fs.DurationVar(&f.poll, "alert-poll", 0, "how often to look in the store for alerts due for a retry (0: 10s)")
}

func (f *alertFlags) apply(cfg *server.Config, log *slog.Logger) error {
	if f.publicURL != "" {
		u, err := url.Parse(f.publicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--public-url %q: want an http or https URL like https://crawlhub.example.com", f.publicURL)
		}
		cfg.PublicURL = f.publicURL
	}
	pass := f.smtpPass
	if f.smtpPassFile != "" {
		if pass != "" {
			return errors.New("both --smtp-password and --smtp-password-file are set (perhaps one from CRAWLHUB_SMTP_PASSWORD); give one")
		}
		b, err := os.ReadFile(f.smtpPassFile)
		if err != nil {
			return fmt.Errorf("--smtp-password-file: %w", err)
		}
		if fi, err := os.Stat(f.smtpPassFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
			log.Warn("the mail server's password file can be read by other users; chmod 600 it", "file", f.smtpPassFile)
		}
		pass = strings.TrimSpace(string(b))
	}
	if f.smtpAddr != "" {
		if _, _, err := net.SplitHostPort(f.smtpAddr); err != nil {
			return fmt.Errorf("--smtp-addr %q: want host:port, e.g. smtp.example.com:587", f.smtpAddr)
		}
		if f.smtpFrom == "" {
			return errors.New("--smtp-addr needs --smtp-from, the sender address of email alerts")
		}
	}
	if err := alerts.CheckTLS(f.smtpTLS); err != nil {
		return fmt.Errorf("--smtp-tls: %w", err)
	}
	cfg.SMTP = alerts.SMTP{Addr: f.smtpAddr, From: f.smtpFrom, Username: f.smtpUser, Password: pass, TLS: f.smtpTLS}
	if f.smtpCA != "" {
		pem, err := os.ReadFile(f.smtpCA)
		if err != nil {
			return fmt.Errorf("--smtp-ca-file: %w", err)
		}
		cfg.SMTP.RootCAs = x509.NewCertPool()
		if !cfg.SMTP.RootCAs.AppendCertsFromPEM(pem) {
			return fmt.Errorf("--smtp-ca-file %s: no PEM certificate in it", f.smtpCA)
		}
	}
	if f.retry != "" {
		for s := range strings.SplitSeq(f.retry, ",") {
			d, err := time.ParseDuration(strings.TrimSpace(s))
			if err != nil || d <= 0 {
				return fmt.Errorf("--alert-retry %q: want positive durations separated by commas, e.g. 30s,1m,5m", f.retry)
			}
			cfg.AlertRetry = append(cfg.AlertRetry, d)
		}
	}
	if f.poll < 0 {
		return errors.New("--alert-poll cannot be negative (0 means 10s)")
	}
	cfg.AlertPoll = f.poll
	return nil
}

package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"slices"
	"strings"

	"github.com/crawlhub/crawlhub/store"
)

// WebhookRequest creates a webhook, or changes one: on an update, a field
// left out keeps its value.
type WebhookRequest struct {
	Name       *string   `json:"name,omitempty"`
	Kind       *string   `json:"kind,omitempty"`
	URL        *string   `json:"url,omitempty"`
	Recipients *[]string `json:"recipients,omitempty"`
	Events     *[]string `json:"events,omitempty"`
	SpiderIDs  *[]string `json:"spider_ids,omitempty"`
	// Secret signs the deliveries; on create, none means one is made. It
	// is never returned again after the create.
	Secret  *string `json:"secret,omitempty"`
	Format  *string `json:"format,omitempty"`
	Enabled *bool   `json:"enabled,omitempty"`
}

const webhookExample = `a JSON object like {"name": "ops", "url": "https://hooks.example.com/crawlhub", "events": ["task.failed", "node.offline"]}`

// WebhookView is a webhook as the API shows it: the secret is write-only,
// so only whether there is one, except in the answer to its create.
type WebhookView struct {
	store.Webhook
	HasSecret bool `json:"has_secret"`
}

func viewOf(w *store.Webhook, withSecret bool) WebhookView {
	v := WebhookView{Webhook: *w, HasSecret: w.Secret != ""}
	if !withSecret {
		v.Secret = ""
	}
	if v.Events == nil {
		v.Events = []string{}
	}
	return v
}

// Limits of a webhook's fields.
const (
	maxWebhookName     = 100
	maxWebhookURL      = 2048
	maxRecipients      = 50
	maxWebhookSpiders  = 1000
	maxWebhookSecret   = 256
	deliveriesDefault  = 20
	deliveriesMost     = 200
	webhookSecretBytes = 32
)

// Webhooks lists every webhook, secrets left out.
func (s *Server) Webhooks(ctx context.Context) ([]WebhookView, error) {
	all, err := s.store.Webhooks().List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]WebhookView, len(all))
	for i := range all {
		out[i] = viewOf(&all[i], false)
	}
	return out, nil
}

func (s *Server) webhookByID(ctx context.Context, id string) (*store.Webhook, error) {
	if !store.ValidID(id) {
		return nil, badRequest("webhook id " + id + " is not valid: ids are 24 hex digits, as GET /api/webhooks lists them")
	}
	w, err := s.store.Webhooks().Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("no webhook has id " + id)
	}
	return w, err
}

// CreateWebhook stores a new webhook and returns it with its secret: the
// only time the secret is shown.
func (s *Server) CreateWebhook(ctx context.Context, req WebhookRequest) (*WebhookView, error) {
	now := store.Now()
	w := &store.Webhook{ID: store.NewID(), Kind: store.WebhookHTTP, Format: store.FormatJSON, Enabled: true,
		CreatedBy: actor(ctx), Created: now, Updated: now}
	if req.Secret == nil || *req.Secret == "" {
		b := make([]byte, webhookSecretBytes)
		rand.Read(b)
		secret := hex.EncodeToString(b)
		req.Secret = &secret
	}
	if err := s.applyWebhook(ctx, w, req, true); err != nil {
		return nil, err
	}
	if err := s.store.Webhooks().Create(ctx, w); err != nil {
		return nil, err
	}
	s.alerts.Changed()
	s.audit(ctx, AuditWebhookCreate, w.ID, describeWebhook(w))
	v := viewOf(w, true)
	return &v, nil
}

// UpdateWebhook changes the fields req sets.
func (s *Server) UpdateWebhook(ctx context.Context, id string, req WebhookRequest) (*WebhookView, error) {
	w, err := s.webhookByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if req.Kind != nil && *req.Kind != w.Kind {
		return nil, badRequest(fmt.Sprintf("kind cannot change (this channel is a %s): create a new channel and delete this one", w.Kind))
	}
	if err := s.applyWebhook(ctx, w, req, false); err != nil {
		return nil, err
	}
	w.Updated = store.Now()
	if err := s.store.Webhooks().Update(ctx, w); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, notFound("no webhook has id " + id)
		}
		return nil, err
	}
	s.alerts.Changed()
	detail := describeWebhook(w)
	if req.Secret != nil {
		detail += ", new secret"
	}
	s.audit(ctx, AuditWebhookUpdate, w.ID, detail)
	v := viewOf(w, false)
	return &v, nil
}

// DeleteWebhook removes a webhook and its deliveries.
func (s *Server) DeleteWebhook(ctx context.Context, id string) error {
	w, err := s.webhookByID(ctx, id)
	if err != nil {
		return err
	}
	if err := s.store.Webhooks().Delete(ctx, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return notFound("no webhook has id " + id)
		}
		return err
	}
	s.alerts.Changed()
	s.audit(ctx, AuditWebhookDelete, id, w.Name)
	return nil
}

// TestWebhook sends a test delivery to a webhook now (enabled or not) and
// returns it with its outcome.
func (s *Server) TestWebhook(ctx context.Context, id string) (*store.Delivery, error) {
	w, err := s.webhookByID(ctx, id)
	if err != nil {
		return nil, err
	}
	d, err := s.alerts.Test(ctx, w)
	if err != nil {
		return nil, err
	}
	s.audit(ctx, AuditWebhookTest, id, w.Name+": "+d.Status)
	return d, nil
}

// Deliveries lists a webhook's last deliveries, newest first.
func (s *Server) Deliveries(ctx context.Context, id string, limit int) (list[store.Delivery], error) {
	if limit < 0 {
		return list[store.Delivery]{}, badRequest("limit cannot be negative")
	}
	if limit == 0 {
		limit = deliveriesDefault
	}
	limit = min(limit, deliveriesMost)
	if _, err := s.webhookByID(ctx, id); err != nil {
		return list[store.Delivery]{}, err
	}
	ds, err := s.store.Webhooks().Deliveries(ctx, id, limit)
	if err != nil {
		return list[store.Delivery]{}, err
	}
	if ds == nil {
		ds = []store.Delivery{}
	}
	return list[store.Delivery]{Items: ds, Total: len(ds)}, nil
}

// applyWebhook sets on w what req sets, and checks the result; create
// requires what an update may leave out.
func (s *Server) applyWebhook(ctx context.Context, w *store.Webhook, req WebhookRequest, create bool) error {
	if req.Name != nil {
		w.Name = strings.TrimSpace(*req.Name)
	}
	if req.Kind != nil {
		w.Kind = *req.Kind
	}
	if req.URL != nil {
		w.URL = strings.TrimSpace(*req.URL)
	}
	if req.Recipients != nil {
		w.Recipients = *req.Recipients
	}
	if req.Events != nil {
		w.Events = *req.Events
	}
	if req.SpiderIDs != nil {
		w.SpiderIDs = *req.SpiderIDs
	}
	if req.Secret != nil {
		w.Secret = *req.Secret
	}
	if req.Format != nil {
		w.Format = *req.Format
	}
	if req.Enabled != nil {
		w.Enabled = *req.Enabled
	}
	switch {
	case w.Name == "":
		return badRequest("name is required: say what the webhook is for, e.g. \"ops channel\"")
	case len(w.Name) > maxWebhookName:
		return badRequest(fmt.Sprintf("name is longer than %d bytes", maxWebhookName))
	case len(w.Secret) > maxWebhookSecret:
		return badRequest(fmt.Sprintf("secret is longer than %d bytes", maxWebhookSecret))
	case w.Format != store.FormatJSON && w.Format != store.FormatSlack:
		return badRequest(fmt.Sprintf("format %q is not known: use %q or %q", w.Format, store.FormatJSON, store.FormatSlack))
	}
	switch w.Kind {
	case store.WebhookHTTP:
		if err := checkWebhookURL(w.URL); err != nil {
			return err
		}
		w.Recipients = nil
	case store.WebhookEmail:
		if err := checkRecipients(w.Recipients); err != nil {
			return err
		}
		if create && (s.cfg.SMTP.Addr == "" || s.cfg.SMTP.From == "") {
			return badRequest("this master has no mail server for email alerts: start it with --smtp-addr and --smtp-from")
		}
		w.URL = ""
	default:
		return badRequest(fmt.Sprintf("kind %q is not known: use %q or %q", w.Kind, store.WebhookHTTP, store.WebhookEmail))
	}
	if err := checkEvents(w.Events); err != nil {
		return err
	}
	w.Events = dedup(w.Events)
	return s.checkSpiders(ctx, w)
}

// checkWebhookURL accepts absolute http and https URLs. It does not refuse
// internal addresses: receivers on the same network are a common use, and
// only admins set webhooks (docs/alerts.md says so).
func checkWebhookURL(raw string) error {
	if raw == "" {
		return badRequest("url is required for a webhook: the address crawlhub POSTs to, e.g. https://hooks.example.com/crawlhub")
	}
	if len(raw) > maxWebhookURL {
		return badRequest(fmt.Sprintf("url is longer than %d bytes", maxWebhookURL))
	}
	u, err := url.Parse(raw)
	if err != nil {
		return badRequest("url is not valid: " + err.Error())
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return badRequest(fmt.Sprintf("url %q is not an http or https URL", raw))
	}
	if u.Host == "" || u.Hostname() == "" {
		return badRequest(fmt.Sprintf("url %q has no host", raw))
	}
	return nil
}

func checkRecipients(rs []string) error {
	if len(rs) == 0 {
		return badRequest("recipients are required for an email channel: one address or more")
	}
	if len(rs) > maxRecipients {
		return badRequest(fmt.Sprintf("at most %d recipients", maxRecipients))
	}
	for _, r := range rs {
		a, err := mail.ParseAddress(r)
		if err != nil || a.Address != r {
			return badRequest(fmt.Sprintf("recipient %q is not an email address like ops@example.com", r))
		}
	}
	return nil
}

func checkEvents(events []string) error {
	if len(events) == 0 {
		return badRequest("events are required: one or more of " + strings.Join(store.AlertEvents, ", "))
	}
	for _, e := range events {
		if !slices.Contains(store.AlertEvents, e) {
			return badRequest(fmt.Sprintf("event %q is not known: use %s", e, strings.Join(store.AlertEvents, ", ")))
		}
	}
	return nil
}

// checkSpiders accepts spider ids of spiders that exist.
func (s *Server) checkSpiders(ctx context.Context, w *store.Webhook) error {
	if len(w.SpiderIDs) > maxWebhookSpiders {
		return badRequest(fmt.Sprintf("at most %d spiders in a filter", maxWebhookSpiders))
	}
	w.SpiderIDs = dedup(w.SpiderIDs)
	for _, id := range w.SpiderIDs {
		if !store.ValidID(id) {
			return badRequest("spider id " + id + " is not valid: ids are 24 hex digits, as GET /api/spiders lists them")
		}
		if _, err := s.store.Spiders().Get(ctx, id); errors.Is(err, store.ErrNotFound) {
			return badRequest("no spider has id " + id)
		} else if err != nil {
			return err
		}
	}
	return nil
}

func dedup(l []string) []string {
	var out []string
	for _, v := range l {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// describeWebhook is what the audit log says of a webhook: never its
// secret, nor a URL's query (it may carry a token).
func describeWebhook(w *store.Webhook) string {
	where := strings.Join(w.Recipients, ", ")
	if w.Kind == store.WebhookHTTP {
		if u, err := url.Parse(w.URL); err == nil {
			where = u.Scheme + "://" + u.Host + u.Path
		}
	}
	state := "enabled"
	if !w.Enabled {
		state = "disabled"
	}
	return fmt.Sprintf("%s %s to %s: %s (%s)", w.Kind, w.Name, where, strings.Join(w.Events, ", "), state)
}

package store

// Webhooks stores the alert channels (webhooks and email) and the record
// of their deliveries.
type Webhooks interface {
}

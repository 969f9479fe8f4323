package mongo

import "github.com/crawlhub/crawlhub/store"

func (s *Store) Webhooks() store.Webhooks { return (*webhooks)(s) }

type webhooks Store

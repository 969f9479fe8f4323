"""crawlhub: save a spider's items to crawlhub (the SDK is being written)."""

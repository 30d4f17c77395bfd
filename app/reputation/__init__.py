"""Web reputation: reviews extracted from public review sites and the index built from them."""

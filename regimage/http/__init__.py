"""The HTTP transport under httpx: connections and pools, TLS, retries, limits, logging,
error mapping and bounded reads."""

"""Examples that run beside stepgate as their own servers."""

"""The web layer: the only place where outcomes become pages and status codes."""

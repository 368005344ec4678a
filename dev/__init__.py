"""Development tooling: the process supervisor behind ``make run``."""

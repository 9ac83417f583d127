"""Source of the connector-fakejobs test distribution (built into a wheel by the runner's tests)."""

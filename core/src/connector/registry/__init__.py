"""Finding, loading and calling connectors: discovery, validation, the registry and the call layer.

Everything public here is re-exported by ``connector``; import it from there.
"""

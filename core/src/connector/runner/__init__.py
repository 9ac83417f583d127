"""Local execution: running a task through its connector, the job journal and the executor mixins.

Everything public here is re-exported by ``connector``; import it from there.
"""

"""End-to-end tests: real wheels of test plugins, pip-installed into a throwaway virtualenv."""

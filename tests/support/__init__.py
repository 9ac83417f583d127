"""Helpers for the test suite: real wheels and throwaway virtualenvs."""

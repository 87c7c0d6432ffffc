"""Test-suite root.

Its presence puts ``tests/`` on ``sys.path`` (pytest's default import mode adds each
conftest's folder), so every test folder can import the shared ``instruments`` module:
the events, barriers and gauges tests synchronise on instead of sleeping.
"""

"""Delivering the outbox: the dispatcher and what it needs at run time.

Back-off, coalescing and storm stores, SMS receipts.
"""

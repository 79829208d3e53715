"""Pure text and policy: what a citizen reads and when.

Templates, HTML, SMS encoding and text, quiet hours, coalescing and storm decisions,
contacts, unsubscribe tokens, event values. No database, network or web library here.
"""

"""Running the daemon for years: systemd, lifecycle, health and status, metrics.

Also retention, least-privilege roles, logging and log privacy, file secrets, migrations.
"""

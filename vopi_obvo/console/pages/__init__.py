"""The console's page groups: one router module each."""

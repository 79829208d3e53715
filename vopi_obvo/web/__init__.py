"""What the citizens' portal and the staff console share: certificate identity, rate limits."""

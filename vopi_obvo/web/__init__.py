"""What the citizens' portal and the staff console share: certificate identity, sessions and
CSRF, security headers, proxy trust, rate limits, serving."""

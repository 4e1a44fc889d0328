"""The outside world behind one interface each: GitHub, the dry-run outbox, SendGrid, Actions."""

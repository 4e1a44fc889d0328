"""Words for people: PR bodies, job summaries, the alert e-mail (pure, no clock)."""

"""Alert mail: the SendGrid client and the durable queue in front of it."""

"""Fakes for the Microsoft Teams edge, on 127.0.0.1: a token issuer (Bot Framework OpenID
metadata, JWKS and a client-credentials token endpoint) and a Bot Connector that records what
the bot sends; plus helpers that POST signed activities to /api/messages. See docs/TEAMS.md."""

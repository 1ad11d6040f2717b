"""The Microsoft Teams edge (issue 11): the SDK set-up (sdk.py), the edge on /api/messages (app.py),
Adaptive Cards (cards.py), file links (files.py) and the app package (package.py). See docs/TEAMS.md."""

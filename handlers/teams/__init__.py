"""Microsoft Teams edge (issue 11). For now only `spike_app`: the groundwork that proves the
Teams SDK can be hosted in our FastAPI app and pointed at fakes. See docs/TEAMS.md."""

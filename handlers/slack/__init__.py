"""The Slack edge: the Bolt app, Block Kit and modal rendering. Nothing outside this package and
scheduler/transports/slack.py knows Slack's wire."""

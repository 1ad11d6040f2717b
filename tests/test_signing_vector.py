"""Slack's worked signing example verifies with the same verifier the app uses."""
from slack_sdk.signature import SignatureVerifier

from tests.slack import fixture_json, fixture_text


def test_slack_documented_signature_vector():
    vector = fixture_json("signing_vector.json")
    body = (fixture_text(vector["body_file"]))
    verifier = SignatureVerifier(vector["signing_secret"], clock=type("C", (), {"now": lambda self: float(vector["x_slack_request_timestamp"])})())
    assert verifier.generate_signature(timestamp=vector["x_slack_request_timestamp"], body=body) == vector["expected_x_slack_signature"]
    assert verifier.is_valid(body, vector["x_slack_request_timestamp"], vector["expected_x_slack_signature"])
    assert not verifier.is_valid(body + "x", vector["x_slack_request_timestamp"], vector["expected_x_slack_signature"])

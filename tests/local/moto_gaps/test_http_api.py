"""local/moto_gaps/http_api.py: moto still serves no HTTP API requests, so the bridge plays API Gateway."""
import boto3
from moto import mock_aws


def test_http_api_requests_are_not_served_by_moto_so_local_moto_gaps_http_api_plays_api_gateway():
    # When moto serves execute-api requests for an HTTP API (with its JWT authorizer), this fails:
    # local/moto_gaps/http_api.py can go, and tests/handlers/test_review_page.py call moto instead.
    import requests

    with mock_aws():
        api = boto3.client("apigatewayv2").create_api(Name="reviews", ProtocolType="HTTP")["ApiId"]
        answered = requests.get(f"https://{api}.execute-api.us-east-1.amazonaws.com/api/status", timeout=10)

    assert (answered.status_code, answered.text) == (404, "Not yet implemented")

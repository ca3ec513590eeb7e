"""Review Page through API Gateway's HTTP API (payload 2.0 events) with moto's Cognito: a verified
token is the reviewer; without one the answer is 401 and no photo."""
import base64
import json
import time

import boto3
import pytest
import requests

import settings
from local.moto_gaps import http_api
from monitoring import ground_truth
from tests.reviewing.conftest import make_review_queue, request

MONITORING_BUCKET = "vehicle-routing-test-monitoring"
PASSWORD = "Correct-horse-42"


@pytest.fixture
def stack(load_handler, aws):
    """The queue, buckets, user pool and app client the stack makes; the handler loaded with its settings."""
    sqs, s3, cognito = boto3.client("sqs"), boto3.client("s3"), boto3.client("cognito-idp")
    queue = make_review_queue(sqs, s3)
    s3.create_bucket(Bucket=MONITORING_BUCKET)
    pool = cognito.create_user_pool(PoolName="reviewers")["UserPool"]["Id"]
    client = cognito.create_user_pool_client(UserPoolId=pool, ClientName="review-page",
                                             ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"])["UserPoolClient"]["ClientId"]
    for user in ("ann", "bob"):
        cognito.admin_create_user(UserPoolId=pool, Username=user)
        cognito.admin_set_user_password(UserPoolId=pool, Username=user, Password=PASSWORD, Permanent=True)
    module = load_handler("review_page", **{
        settings.ENV_REVIEW_QUEUE_URL: queue.url, settings.ENV_SET_ASIDE_QUEUE_URL: queue.dead_letter_url,
        settings.ENV_GROUND_TRUTH_URI: f"s3://{MONITORING_BUCKET}/ground-truth",
        settings.ENV_USER_POOL_CLIENT_ID: client, settings.ENV_PHOTO_URL_SECONDS: "120", "AWS_REGION": "us-east-1"})
    issuer = f"https://cognito-idp.us-east-1.amazonaws.com/{pool}"
    jwks = requests.get(f"{issuer}/.well-known/jwks.json", timeout=10).json()  # moto serves the pool's keys
    authorizer = http_api.JwtAuthorizer(issuer, [client], jwks)

    def token(user: str = "ann") -> str:
        return cognito.initiate_auth(ClientId=client, AuthFlow="USER_PASSWORD_AUTH", AuthParameters={
            "USERNAME": user, "PASSWORD": PASSWORD})["AuthenticationResult"]["IdToken"]

    def call(method: str, path: str, document=None, bearer=None) -> dict:
        headers = {"authorization": f"Bearer {bearer}"} if bearer else {}
        body = json.dumps(document).encode() if document is not None else None
        return http_api.call(module.handler, authorizer, method, path, body, {**headers, "content-type": "application/json"})

    class Stack:
        pass
    stack = Stack()
    stack.queue, stack.s3, stack.module, stack.token, stack.call, stack.authorizer = queue, s3, module, token, call, authorizer
    return stack


def body_of(response: dict) -> dict:
    text = base64.b64decode(response["body"]) if response.get("isBase64Encoded") else response["body"]
    return json.loads(text)


@pytest.mark.parametrize("bearer", [None, "not-a-token", "forged"], ids=["no-token", "garbage", "other-key"])
def test_review_page_without_a_valid_token_answers_401_and_shows_no_photo(stack, bearer):
    stack.queue.put(request("id-1"))
    if bearer == "forged":  # a well-formed token signed with a key that is not the pool's
        from joserfc import jwt
        from joserfc.jwk import RSAKey
        claims = {**json.loads(base64.urlsafe_b64decode(stack.token().split(".")[1] + "==")), "cognito:username": "eve"}
        bearer = jwt.encode({"alg": "RS256", "kid": "dummy"}, claims, RSAKey.generate_key(2048))

    responses = [stack.call("POST", "/api/next", {}, bearer), stack.call("GET", "/api/status", None, bearer)]

    assert [response["statusCode"] for response in responses] == [401, 401]
    assert not any("X-Amz-Signature" in json.dumps(response) or "drivers/" in json.dumps(response)
                   for response in responses)
    assert stack.queue.visible() == 1  # nothing was claimed


def test_review_page_function_itself_refuses_an_event_without_verified_claims(stack):
    stack.queue.put(request("id-1"))

    response = stack.module.handler(http_api.payload_v2_event("POST", "/api/next", b"{}"), None)

    assert response["statusCode"] == 401 and "photo" not in json.dumps(response)
    assert stack.queue.visible() == 1


def test_review_page_with_a_token_claims_answers_as_the_tokens_user_and_never_the_bodys(stack):
    stack.queue.put(request("id-1"))
    bearer = stack.token("ann")

    task = body_of(stack.call("POST", "/api/next", {}, bearer))["task"]
    answered = stack.call("POST", "/api/answer", {"token": task["token"], "label": "motorcycle",
                                                  "workerId": "mallory", "reviewer": "mallory"}, bearer)
    status = body_of(stack.call("GET", "/api/status", None, bearer))

    assert answered["statusCode"] == 200
    assert "X-Amz-Signature" in task["photo_url"] and "X-Amz-Expires=120" in task["photo_url"]
    assert (status["reviewer"], status["answered_today"], status["waiting"]) == ("ann", 1, 0)
    labels, _ = ground_truth.read_ground_truth(f"s3://{MONITORING_BUCKET}/ground-truth", s3_client=stack.s3)
    assert labels == {"id-1": "motorcycle"}
    record = json.loads(stack.s3.get_object(Bucket=MONITORING_BUCKET,
                                            Key=f"ground-truth/{body_of(answered)['answer_id']}")["Body"].read())
    assert record["humanAnswers"][0]["workerId"] == "ann"


def test_review_page_undo_is_only_for_the_reviewer_who_answered(stack):
    stack.queue.put(request("id-1"))
    ann = stack.token("ann")
    task = body_of(stack.call("POST", "/api/next", {}, ann))["task"]
    answer_id = body_of(stack.call("POST", "/api/answer", {"token": task["token"], "label": "bicycle"}, ann))["answer_id"]

    refused = stack.call("POST", "/api/undo", {"answer_id": answer_id}, stack.token("bob"))
    undone = stack.call("POST", "/api/undo", {"answer_id": answer_id}, ann)

    assert refused["statusCode"] == 409
    assert undone["statusCode"] == 200 and body_of(undone)["task"]["undone"] == "bicycle"


def test_review_page_serves_the_page_and_its_files_without_a_token(stack):
    page = stack.call("GET", "/")
    photo = stack.call("GET", "/static/examples/noise.jpg")

    assert page["statusCode"] == 200
    html = base64.b64decode(page["body"]).decode() if page.get("isBase64Encoded") else page["body"]
    assert '"auth": "cognito"' in html and stack.authorizer.audiences.pop() in html
    assert photo["statusCode"] == 200 and photo["isBase64Encoded"]
    assert base64.b64decode(photo["body"])[:2] == b"\xff\xd8"


def test_review_page_expired_token_is_refused(stack):
    stack.queue.put(request("id-1"))
    bearer = stack.token()
    stack.authorizer.clock = lambda: time.time() + 2 * 3600

    assert stack.call("POST", "/api/next", {}, bearer)["statusCode"] == 401

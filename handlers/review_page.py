"""Review Page: the reviewers' web app (reviewing/) behind API Gateway's HTTP API (payload 2.0).

API Gateway verifies the reviewer's Cognito token (the JWT authorizer on /api/*) and passes its
claims in the request context; the reviewer is the token's user, never anything in the request.
Without verified claims the app answers 401 and shows nothing. Photos reach the browser as
presigned URLs that live PHOTO_URL_SECONDS; the response bodies never carry them.
"""
import os
from typing import Optional

import boto3
from apig_wsgi import make_lambda_handler
from aws_lambda_powertools import Logger
from botocore.config import Config

import settings
from reviewing.app import create_app
from reviewing.desk import PHOTO_URL_SECONDS, Desk

logger = Logger()

# The token claims that name the user, in order: an ID token's, then an access token's, then the subject.
USER_CLAIMS = ("cognito:username", "username", "sub")
REGION = os.environ.get("AWS_REGION", "us-east-1")


def reviewer_of(environ: dict) -> Optional[str]:
    """The Cognito user API Gateway's JWT authorizer verified, or None (apig-wsgi keeps the request context)."""
    context = environ.get("apig_wsgi.request_context") or {}
    claims = ((context.get("authorizer") or {}).get("jwt") or {}).get("claims") or {}
    return next((str(claims[name]) for name in USER_CLAIMS if claims.get(name)), None)


# SigV4 presigned URLs (the only kind S3 accepts from temporary credentials everywhere).
S3 = boto3.client("s3", config=Config(signature_version="s3v4"))
DESK = Desk(boto3.client("sqs"), S3, os.environ[settings.ENV_REVIEW_QUEUE_URL], os.environ[settings.ENV_GROUND_TRUTH_URI],
            photo_url_seconds=int(os.environ.get(settings.ENV_PHOTO_URL_SECONDS) or PHOTO_URL_SECONDS),
            dead_letter_url=os.environ.get(settings.ENV_SET_ASIDE_QUEUE_URL) or None)
APP = create_app(DESK, reviewer_of, sign_in={
    "region": REGION, "client_id": os.environ[settings.ENV_USER_POOL_CLIENT_ID],
    "endpoint": os.environ.get("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER") or f"https://cognito-idp.{REGION}.amazonaws.com/"})

ADAPTER = make_lambda_handler(APP, binary_support=True)


def handler(event: dict, context) -> dict:
    response = ADAPTER(event, context)
    http = (event.get("requestContext") or {}).get("http") or {}
    logger.info("review page request", extra={"method": http.get("method"), "path": http.get("path"),
                                              "status": response.get("statusCode")})
    return response

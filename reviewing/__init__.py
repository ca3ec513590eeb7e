"""The reviewers' web app: one task at a time from the review queue, answers written as ground truth.

desk.py holds the queue and ground-truth semantics (plain Python and boto3); app.py the web routes
(Bottle, a WSGI app); lambda_handler.py puts it behind API Gateway; serve.py serves it on 127.0.0.1.
"""

"""Secrets Manager rotation functions of the notes platform, one AWS Lambda handler per secret kind.

- ``notes_rotation.jwt.lambda_handler``: the API's JWT signing key set.
- ``notes_rotation.docdb_app.lambda_handler``: the application's DocumentDB user (alternating
  users ``notes_app`` / ``notes_app_clone``).

Both follow Secrets Manager's four-step contract (createSecret, setSecret, testSecret,
finishSecret) through the dispatcher in ``common``. The functions run on the Lambda Python 3.12
runtime, whose bundled boto3 they use; ``docdb_app`` also needs pymongo and dnspython vendored
next to the package (``make rotation-deps``). Nothing here is part of the API's image.
"""

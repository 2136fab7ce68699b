"""Note exports: records in MongoDB, jobs on SQS, results in S3.

The API (``service.ExportsService``) writes a record and sends a message; the worker
(``notes_api.worker``) claims the record, writes one gzip-compressed JSON document to S3 and
records the result. ``records`` holds what both sides share: the record store, the message
body and the object key.
"""

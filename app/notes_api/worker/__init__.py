"""The export worker: ``python -m notes_api.worker``, the API's image with another command.

It long-polls the export queue (SQS), writes each export to the bucket (S3) as one gzip JSON
document streamed in parts, and records the result in the ``exports`` collection the API reads.
One message at a time per process: scale out with processes (tasks), not threads.

- ``settings``: what it needs (MongoDB, the queue, the bucket; no Redis, no JWT key);
- ``consumer``: the receive / export / record / delete loop, retries and shutdown;
- ``export``: the document and its streaming multipart upload;
- ``main``: the entry point, exit codes.
"""

"""``POST /v1/tickets/{id}/presign``: S3 presigned URLs signed with the caller's key pair for a ticket."""

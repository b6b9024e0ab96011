"""``POST /v1/authorize``: S3 authorization decisions for gateways not written in Python (nginx, Envoy)."""

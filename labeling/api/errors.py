from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from labeling.api.parsers import JSONBodyError
from labeling.services.ingestion import IngestionError
from labeling.services.judging import JudgmentError


def exception_handler(exc, context):
    """DRF's handler, plus the services' own errors as 4xx with their messages."""
    if isinstance(exc, IngestionError):
        body = {"detail": exc.message}
        if exc.errors:
            body["errors"] = exc.errors
        return Response(body, status=exc.status)
    if isinstance(exc, JSONBodyError):
        body = {"detail": exc.message}
        if exc.path:
            body["errors"] = [exc.error_entry()]
        return Response(body, status=exc.status)
    if isinstance(exc, JudgmentError):
        return Response({"detail": str(exc)}, status=exc.status)
    return drf_exception_handler(exc, context)

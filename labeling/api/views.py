import json
import logging
from collections.abc import Iterator

from django.conf import settings
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import AppError
from labeling.api.permissions import ProjectAccess
from labeling.api.schema import error_responses
from labeling.api.serializers import IngestionResultSerializer, ItemInSerializer, ProjectSerializer
from labeling.models import Project
from labeling.quality.services import quality_ensure_current
from labeling.selectors import EXPORT_FORMATS, EXPORTERS, project_stats
from labeling.services.ingestion import IngestionError, items_ingest

logger = logging.getLogger(__name__)


def _flag(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes")


class ExportAborted(Exception):
    """Raised after the error line, so the server drops the connection instead of ending the
    response cleanly: a chunked HTTP/1.1 client sees an incomplete transfer."""


def export_stream(rows: Iterator[str], *, name: str) -> Iterator[bytes]:
    """The export's lines as UTF-8. If a row cannot be read or written, the stream never just
    stops: it ends with one line {"error": ...} (no complete export has an "error" key) and then
    aborts the connection, so neither a line-by-line reader nor the HTTP client takes the cut
    file for a whole one."""
    written = 0
    try:
        for row in rows:
            yield row.encode("utf-8")
            written += 1
    except Exception as exc:
        logger.exception("export %s failed after %d rows", name, written)
        message = (f"the export failed after {written} rows ({type(exc).__name__}); this file is incomplete, "
                   "see the server log")
        yield (json.dumps({"error": message}) + "\n").encode("ascii")
        raise ExportAborted(message) from exc


class ProjectView(APIView):
    permission_classes = [ProjectAccess]

    @extend_schema(
        responses={200: ProjectSerializer, **error_responses(401, 403, 404)}, summary="A project and its counts"
    )
    def get(self, request, slug: str):
        project = get_object_or_404(Project, slug=slug)
        return Response(ProjectSerializer({**vars(project), **project_stats(project=project)}).data)


class ItemsView(APIView):
    permission_classes = [ProjectAccess]

    @extend_schema(
        request=ItemInSerializer(many=True),
        responses={
            201: IngestionResultSerializer, 200: IngestionResultSerializer,
            **error_responses(400, 401, 403, 404, 413, 415),
        },
        summary="Push prompts with their samples (bulk, atomic, idempotent by external_id)",
    )
    def post(self, request, slug: str):
        limit = settings.INGEST_MAX_BODY_BYTES
        if int(request.META.get("CONTENT_LENGTH") or 0) > limit:
            raise IngestionError(f"The body is larger than {limit} bytes; send fewer items per request.", status=413)
        project = get_object_or_404(Project, slug=slug)
        result = items_ingest(project=project, items=request.data)
        created = result.prompts_created or result.samples_created
        return Response(result.as_dict(), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class ExportView(APIView):
    permission_classes = [ProjectAccess]

    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=list(EXPORT_FORMATS), default="pairs"),
            OpenApiParameter(
                "clean", bool, default=False,
                description="1: only judgments the quality filters kept (none of banned annotators), with weights; "
                "quality is recomputed first when judgments changed since the last pass",
            ),
            OpenApiParameter(
                "conversational", bool, default=False,
                description="pairs and rankings: a plain-string prompt's row is strings (TRL's standard form) and a "
                "chat prompt's row turns; 1 writes every row in the conversational form (a plain prompt as one "
                "user turn), so a project mixing both gives one form TRL can train on",
            ),
        ],
        responses={(200, "application/jsonl"): OpenApiTypes.STR, **error_responses(400, 401, 403, 404)},
        summary="Stream preference data as JSONL (pairs for TRL's RewardTrainer, rankings, or raw judgments)",
    )
    def get(self, request, slug: str):
        project = get_object_or_404(Project, slug=slug)
        export_format = request.query_params.get("format", "pairs")
        if export_format not in EXPORT_FORMATS:
            choices = ", ".join(EXPORT_FORMATS)
            raise AppError(f"the query parameter format must be one of {choices}",
                           errors=[{"index": None, "field": "format", "message": f"must be one of {choices}"}])
        clean = _flag(request.query_params.get("clean"))
        if clean:
            quality_ensure_current(project=project)  # judgments since the last quality pass are filtered too
        form = "conversational" if _flag(request.query_params.get("conversational")) else "auto"
        rows = EXPORTERS[export_format](project=project, clean=clean, form=form)
        response = StreamingHttpResponse(
            export_stream(rows, name=f"{project.slug}/{export_format}"), content_type="application/jsonl; charset=utf-8"
        )
        suffix = "-clean" if clean else ""
        response["Content-Disposition"] = f'attachment; filename="{project.slug}-{export_format}{suffix}.jsonl"'
        return response

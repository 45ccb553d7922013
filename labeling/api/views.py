from django.conf import settings
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling.api.permissions import ProjectAccess
from labeling.api.serializers import IngestionResultSerializer, ItemInSerializer, ProjectSerializer
from labeling.models import Project
from labeling.selectors import EXPORT_FORMATS, EXPORTERS, project_stats
from labeling.services.ingestion import IngestionError, items_ingest


class ProjectView(APIView):
    permission_classes = [ProjectAccess]

    @extend_schema(responses=ProjectSerializer, summary="A project and its counts")
    def get(self, request, slug: str):
        project = get_object_or_404(Project, slug=slug)
        return Response(ProjectSerializer({**vars(project), **project_stats(project=project)}).data)


class ItemsView(APIView):
    permission_classes = [ProjectAccess]

    @extend_schema(
        request=ItemInSerializer(many=True),
        responses={201: IngestionResultSerializer, 200: IngestionResultSerializer},
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
                description="1: only judgments the quality filters kept (none of banned annotators), with weights",
            ),
        ],
        responses={(200, "application/jsonl"): OpenApiTypes.STR},
        summary="Stream preference data as JSONL (pairs for TRL's RewardTrainer, rankings, or raw judgments)",
    )
    def get(self, request, slug: str):
        project = get_object_or_404(Project, slug=slug)
        export_format = request.query_params.get("format", "pairs")
        if export_format not in EXPORT_FORMATS:
            raise ValidationError({"format": f"must be one of {', '.join(EXPORT_FORMATS)}"})
        clean = request.query_params.get("clean", "").lower() in ("1", "true", "yes")
        rows = EXPORTERS[export_format](project=project, clean=clean)
        response = StreamingHttpResponse(rows, content_type="application/jsonl; charset=utf-8")
        suffix = "-clean" if clean else ""
        response["Content-Disposition"] = f'attachment; filename="{project.slug}-{export_format}{suffix}.jsonl"'
        return response

"""The crowd API: the same token authentication, strict JSON parser, size limits and error shape
as ingestion (labeling.api)."""

from urllib.parse import urlencode

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from crowd.api.serializers import CrowdJudgmentInSerializer, CrowdResultSerializer, CrowdTaskPageSerializer
from crowd.selectors import task_as_listed, tasks_open, tasks_with_samples
from crowd.services.judgments import CrowdError, judgments_record
from crowd.services.workers import WORKER_ID, WORKER_ID_RULE
from labeling.api.permissions import ProjectAccess
from labeling.api.schema import error_responses
from labeling.models import Project

PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
STATUSES = ("open",)


def _query_error(field: str, message: str) -> CrowdError:
    return CrowdError(f"{field}: {message}", [{"index": None, "field": field, "message": message}])


def _whole_number(request, name: str, default: int, highest: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or int(raw) < 1 or (highest is not None and int(raw) > highest):
        limit = f" to {highest}" if highest is not None else " or more"
        raise _query_error(name, f"must be a whole number from 1{limit}, not {raw[:40]!r}")
    return int(raw)


class TasksView(APIView):
    permission_classes = [ProjectAccess]

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=list(STATUSES), default="open",
                             description="open: tasks that still want judgments (the only status listed)."),
            OpenApiParameter("page", int, default=1),
            OpenApiParameter("page_size", int, default=PAGE_SIZE, description=f"At most {MAX_PAGE_SIZE}."),
            OpenApiParameter("annotator", str, required=False,
                             description="A worker id: leave out the tasks this worker already answered."),
        ],
        responses={200: CrowdTaskPageSerializer, **error_responses(400, 401, 403, 404)},
        summary="List open tasks for an external crowd (samples in canonical order: the first is a)",
    )
    def get(self, request, slug: str):
        project = get_object_or_404(Project, slug=slug)
        wanted = request.query_params.get("status", "open")
        if wanted not in STATUSES:
            raise _query_error("status", f"must be one of {', '.join(STATUSES)}, not {wanted[:40]!r}")
        worker = request.query_params.get("annotator")
        if worker is not None and not WORKER_ID.match(worker):
            raise _query_error("annotator", f"must be a worker id: {WORKER_ID_RULE}")
        page = _whole_number(request, "page", 1)
        size = _whole_number(request, "page_size", PAGE_SIZE, MAX_PAGE_SIZE)
        tasks = tasks_open(project=project, worker_id=worker)
        count = tasks.count()
        start = (page - 1) * size
        listed = tasks_with_samples(tasks)[start : start + size] if start < count else []
        next_url = None
        if start + size < count:
            query = {**request.query_params.dict(), "page": page + 1}
            next_url = request.build_absolute_uri(f"{request.path}?{urlencode(query)}")
        return Response({
            "count": count,
            "next": next_url,
            "results": [task_as_listed(task, kind=project.kind) for task in listed],
        })


class JudgmentsView(APIView):
    permission_classes = [ProjectAccess]

    @extend_schema(
        request=CrowdJudgmentInSerializer(many=True),
        responses={
            201: CrowdResultSerializer, 200: CrowdResultSerializer,
            **error_responses(400, 401, 403, 404, 413, 415),
        },
        summary="Post judgments of external or simulated workers (bulk, atomic, idempotent by external_id)",
    )
    def post(self, request, slug: str):
        limit = settings.INGEST_MAX_BODY_BYTES
        length = str(request.META.get("CONTENT_LENGTH") or "0")
        if length.isdigit() and int(length) > limit:
            raise CrowdError(f"The body is larger than {limit} bytes; send fewer judgments per request.", status=413)
        project = get_object_or_404(Project, slug=slug)
        result = judgments_record(project=project, rows=request.data)
        return Response(
            result.as_dict(), status=status.HTTP_201_CREATED if result.judgments_created else status.HTTP_200_OK
        )

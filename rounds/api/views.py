"""The rounds API: list a project's rounds with their steps and lineage, start one on the
workers, retry a failed one. Same token authentication and error shape as the rest of the API."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from config.jobs import enqueue_on_commit
from labeling.api.permissions import ProjectAccess
from labeling.api.schema import error_responses
from labeling.models import Project
from rounds.api.serializers import RoundListSerializer, RoundSerializer, RoundStartSerializer
from rounds.models import Round
from rounds.services import RoundError, round_request, round_retry

LISTED = 100


def _rounds(project: Project):
    return Round.objects.filter(project=project).prefetch_related("steps").order_by("-number")


def _creator(request):
    """The staff user behind a session; None for a project token (a client, not a person)."""
    user = request.user
    return user if getattr(user, "pk", None) is not None and user.is_authenticated else None


class RoundsView(APIView):
    permission_classes = [ProjectAccess]

    @extend_schema(operation_id="v1_projects_rounds_list", responses={200: RoundListSerializer,
                                                                      **error_responses(401, 403, 404)},
                   summary=f"List the project's RLHF rounds, newest first (the last {LISTED})")
    def get(self, request, slug: str):
        project = get_object_or_404(Project, slug=slug)
        rounds = _rounds(project)
        return Response({"count": rounds.count(), "results": RoundSerializer(rounds[:LISTED], many=True).data})

    @extend_schema(request=RoundStartSerializer,
                   responses={202: RoundSerializer, **error_responses(400, 401, 403, 404, 409, 415)},
                   summary="Start a round on the workers (202: queued; follow it with GET)")
    def post(self, request, slug: str):
        project = get_object_or_404(Project, slug=slug)
        body = request.data if request.data else {}
        if not isinstance(body, dict) or set(body) - {"config"}:
            raise RoundError('the body must be an object with at most a "config" object of round settings')
        config = body.get("config")
        if config is not None and not isinstance(config, dict):
            raise RoundError('"config" must be an object of settings per step (reward, ppo, generate, enqueue)')
        rnd = round_request(project=project, config=config, trigger=Round.Trigger.API, created_by=_creator(request))
        return Response(RoundSerializer(rnd).data, status=status.HTTP_202_ACCEPTED)


class RoundDetailView(APIView):
    permission_classes = [ProjectAccess]

    @extend_schema(responses={200: RoundSerializer, **error_responses(401, 403, 404)}, summary="One round")
    def get(self, request, slug: str, number: int):
        project = get_object_or_404(Project, slug=slug)
        return Response(RoundSerializer(get_object_or_404(_rounds(project), number=number)).data)


class RoundRetryView(APIView):
    permission_classes = [ProjectAccess]

    @extend_schema(request=None, responses={202: RoundSerializer, **error_responses(401, 403, 404, 409)},
                   summary="Retry a failed round from its failed step, on the workers")
    def post(self, request, slug: str, number: int):
        project = get_object_or_404(Project, slug=slug)
        rnd = round_retry(round=get_object_or_404(_rounds(project), number=number), execute_here=False, advance=False)
        enqueue_on_commit("rounds.advance", rnd.pk)
        return Response(RoundSerializer(rnd).data, status=status.HTTP_202_ACCEPTED)

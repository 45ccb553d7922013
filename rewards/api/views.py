import logging

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling.api.schema import error_responses
from rewards.api.permissions import RewardModelAccess
from rewards.models import RewardModel
from rewards.services.scoring import MAX_SCORE_ITEMS, rewards_score, score_items_parse

logger = logging.getLogger(__name__)

_ScoreItem = inline_serializer(
    "ScoreItem", {"prompt": serializers.CharField(), "response": serializers.CharField()}, many=True
)
_ScoreResult = inline_serializer("ScoreResult", {"rewards": serializers.ListField(child=serializers.FloatField())})


class ScoreView(APIView):
    permission_classes = [RewardModelAccess]

    @extend_schema(
        request=_ScoreItem,
        responses={200: _ScoreResult, **error_responses(400, 401, 403, 404, 413, 415, 503)},
        summary=f"Rewards of (prompt, response) pairs, at most {MAX_SCORE_ITEMS} per request (offset-corrected)",
    )
    def post(self, request, pk: int):
        model = get_object_or_404(RewardModel, pk=pk)
        self.check_object_permissions(request, model)
        prompts, responses = score_items_parse(request.data)  # a ScoreInputError is a 400/413 (config/errors.py)
        try:
            rewards = rewards_score(model=model, prompts=prompts, responses=responses)
        except (OSError, ValueError):  # adapter or base model missing or unreadable
            # The cause names server paths: it goes to the log, not to the client.
            logger.exception("reward model %s could not be loaded", model.pk)
            return Response(
                {"detail": f"Reward model {model.pk} could not be loaded: its files are missing or unreadable on "
                           "the server. Try again later, or ask an admin (the cause is in the server log)."},
                status=503,
            )
        return Response({"rewards": rewards})

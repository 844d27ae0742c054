"""Participant tokens: publisher (host), viewer (with an atomic seat), media server.

Two minting modes behind `token_mint`: self-signed ES384 JWTs (no AWS call)
and CreateParticipantToken through the AWS module (50 TPS per account, budgeted).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings

from ivsproject.api.exceptions import ApiError, TokenGenerationFailed
from ivsproject.api.throttling import RateBill
from stages import ivs
from stages import selectors as stage_selectors
from stages.ivs import participant_token
from stages.models import Room, Stage
from viewers import lifecycle, seating

logger = logging.getLogger(__name__)

PUBLISH = "PUBLISH"
SUBSCRIBE = "SUBSCRIBE"


@dataclass(frozen=True)
class MintedToken:
    token: str
    participant_id: str
    user_id: str
    stage: Stage
    capabilities: list[str]
    expires_at: datetime
    expires_in: int


def token_mint(
    *,
    stage: Stage,
    user_id: str,
    capabilities: list[str],
    ttl_seconds: int,
    role: str,
    participant_id: str | None = None,
) -> MintedToken:
    """`participant_id` is used for self-signed tokens (CreateParticipantToken lets IVS choose)."""
    attributes = {"role": role}
    try:
        if settings.IVS_TOKEN_SIGNING == "api":
            minted = ivs.create_participant_token(
                stage_arn=stage.arn,
                user_id=user_id,
                capabilities=capabilities,
                duration_seconds=ttl_seconds,
                attributes=attributes,
            )
        else:
            private_pem, key_arn = participant_token.signing_key()
            minted = participant_token.mint_token(
                stage_arn=stage.arn,
                participant_id=participant_id or participant_token.new_participant_id(),
                user_id=user_id,
                capabilities=capabilities,
                ttl_seconds=ttl_seconds,
                attributes=attributes,
                whip_url=stage.whip_endpoint or None,
                events_url=stage.events_endpoint or None,
                private_key_pem=private_pem,
                key_arn=key_arn,
            )
    except ApiError:
        raise
    except Exception as exc:
        logger.exception("token minting failed")
        raise TokenGenerationFailed(details={"error": f"{type(exc).__name__}: {exc}"}) from exc
    # JWT times are whole seconds (iat floored), so the remaining lifetime is in (ttl-1, ttl]: ceil.
    expires_in = max(math.ceil((minted.expires_at - datetime.now(UTC)).total_seconds() - 1e-6), 0)
    return MintedToken(
        token=minted.token,
        participant_id=minted.participant_id,
        user_id=user_id,
        stage=stage,
        capabilities=capabilities,
        expires_at=minted.expires_at,
        expires_in=expires_in,
    )


def token_publisher_create(*, user_id: str, room_id: str = Room.DEFAULT) -> MintedToken:
    stage = stage_selectors.master_stage_or_404(room_id)
    return token_mint(
        stage=stage,
        user_id=user_id,
        capabilities=[PUBLISH],
        ttl_seconds=settings.PUBLISHER_TOKEN_TTL_SECONDS,
        role="publisher",
    )


@dataclass(frozen=True)
class ViewerToken:
    minted: MintedToken
    current_viewers: int


def token_viewer_create(
    *, user_id: str, stage_arn: str | None = None, room_id: str = Room.DEFAULT, rate_bill: RateBill | None = None
) -> ViewerToken:
    """`rate_bill`: the request's rate-limit count, paid inside the seat script (`viewer_seat_take`)."""
    # The participant id exists before the seat, so the seat script records it in the same round
    # trip (a token from CreateParticipantToken carries IVS's own id; the session open fixes that).
    participant_id = participant_token.new_participant_id()
    grant = seating.viewer_seat_take(
        user_id=user_id, stage_arn=stage_arn, participant_id=participant_id, room_id=room_id, rate_bill=rate_bill
    )
    try:
        minted = token_mint(
            stage=grant.stage,
            user_id=user_id,
            capabilities=[SUBSCRIBE],
            ttl_seconds=settings.VIEWER_TOKEN_TTL_SECONDS,
            role="viewer",
            participant_id=participant_id,
        )
        lifecycle.viewer_session_open(grant=grant, user_id=user_id, participant_id=minted.participant_id)
    except Exception:
        # The seat was taken for this token; without a token (or without its durable session —
        # the database away) it must go back, or it would count as a viewer until the cleanup.
        try:
            seating.viewer_seat_release(grant=grant, user_id=user_id)
        except Exception:
            logger.warning("could not give back the seat of a failed viewer token", exc_info=True)
        raise
    return ViewerToken(minted=minted, current_viewers=grant.seat.count)


def token_mediaserver_create(*, server_id: str, stage_arn: str) -> MintedToken:
    stage = stage_selectors.stage_by_arn(stage_arn)
    return token_mint(
        stage=stage,
        user_id=server_id,
        capabilities=[PUBLISH, SUBSCRIBE],
        ttl_seconds=settings.MEDIASERVER_TOKEN_TTL_SECONDS,
        role="mediaserver",
    )

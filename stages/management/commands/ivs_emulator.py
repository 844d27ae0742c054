"""Act as IVS clients against the local emulator: join, publish, leave, inspect, reset.

manage.py ivs_emulator stages
manage.py ivs_emulator join <stageArn> --user-id host-1 --publish
manage.py ivs_emulator participants <stageArn>
manage.py ivs_emulator publish|unpublish|leave <stageArn> <participantId>
manage.py ivs_emulator reset
"""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ivsproject.api.exceptions import ApiError
from stages import ivs
from stages.ivs import emulator

JOIN_TOKEN_SECONDS = 4 * 3600


def _api_error(exc: ApiError) -> CommandError:
    details = f" {exc.details}" if exc.details else ""
    return CommandError(f"{exc.code}: {exc.message}{details}")


class Command(BaseCommand):
    help = "Simulate IVS participants on the local IVS emulator (IVS_BACKEND=emulator only)."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="action")
        join = actions.add_parser("join", help="mint a token through the IVS API and join the stage with it")
        join.add_argument("stage_arn")
        join.add_argument("--user-id", default=None, help="userId of the token (default: a random cli-… id)")
        join.add_argument("--publish", action="store_true", help="start publishing right after joining")
        join.add_argument("--subscribe-only", action="store_true", help="join as a viewer (SUBSCRIBE token)")
        for name, text in (
            ("publish", "start publishing"),
            ("unpublish", "stop publishing"),
            ("leave", "leave the stage (the last one out ends the session)"),
        ):
            sub = actions.add_parser(name, help=text)
            sub.add_argument("stage_arn")
            sub.add_argument("participant_id")
        actions.add_parser("participants", help="participants of the active (else latest) session").add_argument(
            "stage_arn"
        )
        actions.add_parser("stages", help="all stages, as ListStages returns them")
        actions.add_parser("reset", help="wipe every stage, participant, key and injected fault")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.IVS_BACKEND != "emulator":
            raise CommandError(
                f"ivs_emulator only works with IVS_BACKEND=emulator (it is {settings.IVS_BACKEND!r}): "
                "it simulates IVS participants, which real AWS would never accept."
            )
        action = options["action"]
        try:
            getattr(self, f"_{action}")(options)
        except emulator.EmulatorError as exc:
            raise CommandError(str(exc)) from exc
        except ApiError as exc:
            raise _api_error(exc) from exc

    def _join(self, options: dict[str, Any]) -> None:
        arn = options["stage_arn"]
        user_id = options["user_id"] or f"cli-{secrets.token_hex(3)}"
        capabilities = ["SUBSCRIBE"] if options["subscribe_only"] else ["PUBLISH", "SUBSCRIBE"]
        token = ivs.create_participant_token(
            stage_arn=arn,
            user_id=user_id,
            capabilities=capabilities,
            duration_seconds=JOIN_TOKEN_SECONDS,
            attributes={"source": "ivs_emulator"},
        )
        participant_id = emulator.participant_join(stage_arn=arn, token=token.token)
        self.stdout.write(f"joined {arn}")
        self.stdout.write(f"  participantId: {participant_id}")
        self.stdout.write(f"  userId:        {user_id}")
        self.stdout.write(f"  capabilities:  {', '.join(capabilities)}")
        self.stdout.write(f"  session:       {ivs.get_stage(arn=arn).active_session_id}")
        if options["publish"]:
            emulator.participant_publish(stage_arn=arn, participant_id=participant_id)
            self.stdout.write("  publishing:    yes")

    def _publish(self, options: dict[str, Any]) -> None:
        emulator.participant_publish(stage_arn=options["stage_arn"], participant_id=options["participant_id"])
        self.stdout.write(f"{options['participant_id']} is publishing")

    def _unpublish(self, options: dict[str, Any]) -> None:
        emulator.participant_unpublish(stage_arn=options["stage_arn"], participant_id=options["participant_id"])
        self.stdout.write(f"{options['participant_id']} stopped publishing")

    def _leave(self, options: dict[str, Any]) -> None:
        emulator.participant_leave(stage_arn=options["stage_arn"], participant_id=options["participant_id"])
        self.stdout.write(f"{options['participant_id']} left {options['stage_arn']}")

    def _participants(self, options: dict[str, Any]) -> None:
        found = emulator.describe_participants(options["stage_arn"])
        if not found:
            self.stdout.write("no participants (the stage has never had a session)")
            return
        self.stdout.write(f"session {found[0]['sessionId']}: {len(found)} participant(s)")
        header = f"{'participantId':<14} {'userId':<20} {'state':<13} {'publishing':<10} {'replication':<11} joined"
        self.stdout.write(header)
        for p in found:
            self.stdout.write(
                f"{p['participantId']:<14} {p['userId'][:20]:<20} {p['state']:<13} "
                f"{'yes' if p['publishing'] else 'no':<10} {p['replicationType']:<11} {p['firstJoinTime']}"
            )

    def _stages(self, options: dict[str, Any]) -> None:
        stages = ivs.list_stages()
        self.stdout.write(f"{len(stages)} stage(s)")
        for stage in stages:
            tags = ", ".join(f"{k}={v}" for k, v in sorted(stage.tags.items())) or "-"
            session = stage.active_session_id or "idle"
            self.stdout.write(f"{stage.arn}  {stage.name or '-'}  [{session}]  {tags}")

    def _reset(self, options: dict[str, Any]) -> None:
        emulator.reset()
        self.stdout.write("emulator state wiped (stages, participants, keys, faults)")

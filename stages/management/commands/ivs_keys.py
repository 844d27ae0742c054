"""Manage the public keys IVS uses to verify self-signed participant tokens (max 3 per region).

manage.py ivs_keys create [--name N] [--out FILE]   # prints IVS_PUBLIC_KEY_ARN / IVS_PRIVATE_KEY
manage.py ivs_keys list
manage.py ivs_keys delete <arn> [--force]
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ivsproject.api.exceptions import ApiError
from stages import ivs
from stages.ivs.errors import IvsQuotaExceeded
from stages.ivs.keys import generate_key_pair


class Command(BaseCommand):
    help = "Create, list and delete the IVS public keys for self-signed participant tokens."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="action")
        create = actions.add_parser("create", help="generate a P-384 key pair and import the public key into IVS")
        create.add_argument("--name", default=None, help="key name ([a-zA-Z0-9-_], default: ivs-control-plane-<time>)")
        create.add_argument("--out", default=None, help="write the private key PEM to this new file (mode 600)")
        actions.add_parser("list", help="imported public keys")
        delete = actions.add_parser("delete", help="delete an imported public key")
        delete.add_argument("arn")
        delete.add_argument("--force", action="store_true", help="also delete the key configured in IVS_PUBLIC_KEY_ARN")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"_{options['action']}")(options)
        except ApiError as exc:
            details = f" {exc.details}" if exc.details else ""
            raise CommandError(f"{exc.code}: {exc.message}{details}") from exc

    def _create(self, options: dict[str, Any]) -> None:
        name = options["name"] or f"ivs-control-plane-{datetime.now(UTC):%Y%m%d%H%M%S}"
        out = Path(options["out"]).expanduser() if options["out"] else None
        if out is not None and out.exists():
            raise CommandError(f"{out} already exists; refusing to overwrite a private key")
        private_pem, public_pem = generate_key_pair()
        # Write the private half before importing: a key imported without it would be useless and
        # would still occupy one of only 3 slots.
        if out is not None:
            try:
                descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(descriptor, "w") as handle:
                    handle.write(private_pem)
            except OSError as exc:
                raise CommandError(f"cannot write {out}: {exc}") from exc
        try:
            arn = ivs.import_public_key(name=name, public_key_pem=public_pem, tags={"ManagedBy": "api-server"})
        except ApiError as exc:
            if out is not None:
                out.unlink(missing_ok=True)
            if isinstance(exc, IvsQuotaExceeded):
                raise CommandError(
                    f"all 3 public key slots of {settings.AWS_REGION} are in use: "
                    "see `manage.py ivs_keys list`, then `manage.py ivs_keys delete <arn>`"
                ) from exc
            raise
        self.stderr.write(f"imported public key {name!r} into IVS ({settings.IVS_BACKEND}, {settings.AWS_REGION})")
        self.stdout.write(f"IVS_PUBLIC_KEY_ARN={arn}")
        if out is not None:
            self.stdout.write(f"IVS_PRIVATE_KEY={out.resolve()}")
        else:
            # One line with literal \n: the form .env files carry; settings turn it back into a PEM.
            one_line = private_pem.strip().replace("\n", "\\n")
            self.stdout.write(f'IVS_PRIVATE_KEY="{one_line}"')

    def _list(self, options: dict[str, Any]) -> None:
        keys = ivs.list_public_keys()
        self.stdout.write(f"{len(keys)} of 3 public key slots used ({settings.AWS_REGION})")
        for item in keys:
            mark = "  (configured: IVS_PUBLIC_KEY_ARN)" if item["arn"] == settings.IVS_PUBLIC_KEY_ARN else ""
            self.stdout.write(f"{item['arn']}  {item['name'] or '-'}  {item['fingerprint']}{mark}")

    def _delete(self, options: dict[str, Any]) -> None:
        arn = options["arn"]
        if arn == settings.IVS_PUBLIC_KEY_ARN and not options["force"]:
            raise CommandError(
                "this is the key in IVS_PUBLIC_KEY_ARN: every token it signed would stop working. "
                "Pass --force to delete it anyway."
            )
        ivs.delete_public_key(arn=arn)
        self.stdout.write(f"deleted {arn}")

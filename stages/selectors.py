from django.conf import settings


def master_stage_configured() -> bool:
    return bool(settings.IVS_MASTER_STAGE_ARN)

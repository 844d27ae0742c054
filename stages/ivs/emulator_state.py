"""Redis-backed state of the local IVS emulator, shared by every process (web, worker, beat).

Keys live under `<REDIS_KEY_PREFIX>:{ivsemu}:<region>:...` (regions are separate, as in IVS).
Invariants that concurrent processes could break — the stage quota, the 3-key limit, a session
starting with the first participant and ending with the last — are kept by small Lua scripts.
Each script is given every key it touches (KEYS), and all of them carry the one hash tag `ivsemu`,
so a script's keys always share a Redis Cluster slot. Where a key depends on state (the stage's
active session), the caller reads that state first and the script refuses to run when it changed
in between; the caller then reads again.
"""

from __future__ import annotations

import json
import secrets
import string
from datetime import UTC, datetime

from ivsproject.redis import LuaScript, get_redis, key, slot_key, text_map

ACCOUNT_ID = "123456789012"
_ALPHANUMERIC = string.ascii_letters + string.digits

# HTTP status AWS uses for each error code (botocore model; Throttling is not modelled but is 429).
ERROR_STATUS = {
    "ValidationException": 400,
    "AccessDeniedException": 403,
    "PendingVerification": 403,
    "ResourceNotFoundException": 404,
    "ConflictException": 409,
    "ServiceQuotaExceededException": 402,
    "ThrottlingException": 429,
    "InternalServerException": 500,
    "ServiceUnavailableException": 503,
}


class AwsError(Exception):
    """An error the emulator answers with, exactly as IVS would (code, message, HTTP status)."""

    def __init__(self, code: str, message: str, status: int | None = None):
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message
        self.status = status or ERROR_STATUS.get(code, 400)


class EmulatorError(Exception):
    """Refusal by one of the emulator's non-AWS helpers (participant simulation)."""


def random_id(length: int = 12) -> str:
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(length))


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ns(region: str, *parts: object) -> str:
    """A key of the region's state; every one shares the `ivsemu` hash tag (module docstring)."""
    return slot_key("ivsemu", region, *parts)


def stage_arn(region: str, stage_id: str) -> str:
    return f"arn:aws:ivs:{region}:{ACCOUNT_ID}:stage/{stage_id}"


def public_key_arn(region: str, key_id: str) -> str:
    return f"arn:aws:ivs:{region}:{ACCOUNT_ID}:public-key/{key_id}"


def parse_arn(arn: str, kind: str) -> tuple[str, str]:
    """(region, resource id) of an emulator ARN; ResourceNotFound for anything else."""
    parts = arn.split(":") if isinstance(arn, str) else []
    if len(parts) == 6 and parts[:3] == ["arn", "aws", "ivs"] and parts[5].startswith(kind + "/"):
        return parts[3], parts[5].split("/", 1)[1]
    raise AwsError("ResourceNotFoundException", f"Resource {arn} not found")


# --- stages ---------------------------------------------------------------------------------
# KEYS: stage index, stage hash, sequence. ARGV: quota, stage id, field/value pairs.
_CREATE_STAGE = LuaScript(
    """
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
local seq = redis.call('INCR', KEYS[3])
redis.call('ZADD', KEYS[1], seq, ARGV[2])
redis.call('HSET', KEYS[2], 'seq', seq, unpack(ARGV, 3))
return seq
"""
)


def create_stage(region: str, *, name: str, tags: dict[str, str], max_stages: int) -> dict[str, str]:
    stage_id = random_id()
    fields = {
        "id": stage_id,
        "arn": stage_arn(region, stage_id),
        "name": name,
        "tags": json.dumps(tags),
        "endpointHost": secrets.token_hex(6),
    }
    flat = [item for pair in fields.items() for item in pair]
    keys = [ns(region, "stages"), ns(region, "stage", stage_id), ns(region, "seq")]
    if not _CREATE_STAGE(keys=keys, args=[max_stages, stage_id, *flat]):
        raise AwsError("ServiceQuotaExceededException", f"Limit of {max_stages} stages per region exceeded")
    return text_map(get_redis().hgetall(ns(region, "stage", stage_id)))


def get_stage(arn: str) -> tuple[str, dict[str, str]]:
    region, stage_id = parse_arn(arn, "stage")
    record = text_map(get_redis().hgetall(ns(region, "stage", stage_id)))
    if not record:
        raise AwsError("ResourceNotFoundException", f"Stage {arn} not found")
    return region, record


def list_stages(region: str, *, start: int, limit: int) -> tuple[list[dict[str, str]], int | None]:
    """Stages in creation order from sequence `start`; the sequence to continue from, if any."""
    r = get_redis()
    ids = r.zrangebyscore(ns(region, "stages"), start, "+inf", start=0, num=limit + 1, withscores=True)
    page, more = ids[:limit], ids[limit:]
    pipe = r.pipeline(transaction=False)
    for member in page:  # (stage id, score) pairs
        pipe.hgetall(ns(region, "stage", str(member[0])))
    records = [text_map(rec) for rec in pipe.execute() if rec]
    return records, (int(more[0][1]) if more else None)


def _flat(fields: dict[str, str]) -> list[str]:
    return [item for pair in fields.items() for item in pair]


def update_stage(region: str, stage_id: str, **fields: str) -> None:
    get_redis().hset(ns(region, "stage", stage_id), items=_flat(fields))


def count_stages(region: str) -> int:
    return int(get_redis().zcard(ns(region, "stages")))


def delete_stage(region: str, record: dict[str, str]) -> None:
    stage_id = record["id"]
    r = get_redis()
    if r.scard(ns(region, "stage", stage_id, "replications")):
        raise AwsError("ConflictException", "Stage has an active participant replication; stop it first")
    for participant_id in r.smembers(ns(region, "stage", stage_id, "connected")):
        leave(region, stage_id, str(participant_id))
    doomed = [ns(region, "stage", stage_id, part) for part in ("connected", "revoked", "sessions", "replications")]
    for session_id in r.zrange(ns(region, "stage", stage_id, "sessions"), 0, -1):
        pids = r.zrange(ns(region, "session", session_id, "participants"), 0, -1)
        doomed += [ns(region, "participant", session_id, pid) for pid in pids]
        doomed += [ns(region, "session", session_id), ns(region, "session", session_id, "participants")]
    r.zrem(ns(region, "stages"), stage_id)
    r.delete(ns(region, "stage", stage_id), *doomed)


# --- sessions and participants --------------------------------------------------------------
# A joining or leaving participant touches keys of the stage's active session, which only Redis
# knows: the caller reads it, names the keys, and the script answers "changed" (touching nothing)
# when another process opened or ended a session in between. Bounded: a session changes only when
# the first participant joins or the last one leaves.
_SESSION_READS = 10

# KEYS: stage hash, connected set, session index, revoked set, sequence, then the session hash,
#       the session's participants and the participant hash of the session the caller read.
# ARGV: participant id, that session id (new when none was active), the active session id the
#       caller read ("" for none), now (ISO), now (ms), stage id, field/value pairs.
_JOIN = LuaScript(
    """
local pid, sid = ARGV[1], ARGV[2]
if redis.call('EXISTS', KEYS[1]) == 0 then return {'nostage', ''} end
if redis.call('SISMEMBER', KEYS[4], pid) == 1 then return {'revoked', ''} end
if redis.call('SISMEMBER', KEYS[2], pid) == 1 then return {'connected', ''} end
if (redis.call('HGET', KEYS[1], 'activeSessionId') or '') ~= ARGV[3] then return {'changed', ''} end
if ARGV[3] == '' then
  redis.call('HSET', KEYS[1], 'activeSessionId', sid)
  redis.call('ZADD', KEYS[3], ARGV[5], sid)
  redis.call('HSET', KEYS[6], 'sessionId', sid, 'stageId', ARGV[6], 'startTime', ARGV[4])
end
redis.call('SADD', KEYS[2], pid)
local seq = redis.call('INCR', KEYS[5])
redis.call('ZADD', KEYS[7], 'NX', seq, pid)
redis.call('HSETNX', KEYS[8], 'firstJoinTime', ARGV[4])
redis.call('HSET', KEYS[8], 'participantId', pid, 'state', 'CONNECTED', unpack(ARGV, 7))
return {'ok', sid}
"""
)

# KEYS: stage hash, connected set, then the participant hash and the session hash of the session
#       the caller read as active.
# ARGV: participant id, that session id, now (ISO).
_LEAVE = LuaScript(
    """
if (redis.call('HGET', KEYS[1], 'activeSessionId') or '') ~= ARGV[2] then return {'changed', ''} end
if redis.call('SREM', KEYS[2], ARGV[1]) == 0 then return {'absent', ''} end
redis.call('HSET', KEYS[3], 'state', 'DISCONNECTED', 'publishing', '0')
if redis.call('SCARD', KEYS[2]) == 0 then
  redis.call('HDEL', KEYS[1], 'activeSessionId')
  redis.call('HSET', KEYS[4], 'endTime', ARGV[3])
end
return {'ok', ARGV[2]}
"""
)


def join(region: str, stage_id: str, participant_id: str, fields: dict[str, str]) -> str:
    """Connect a participant; the first one opens the stage session. Returns the session id."""
    stage = ns(region, "stage", stage_id)
    now = datetime.now(UTC)
    flat = [item for pair in fields.items() for item in pair]
    for _ in range(_SESSION_READS):
        active = get_redis().hget(stage, "activeSessionId") or ""
        session_id = active or "st-" + random_id(13)
        keys = [
            stage,
            ns(region, "stage", stage_id, "connected"),
            ns(region, "stage", stage_id, "sessions"),
            ns(region, "stage", stage_id, "revoked"),
            ns(region, "seq"),
            ns(region, "session", session_id),
            ns(region, "session", session_id, "participants"),
            ns(region, "participant", session_id, participant_id),
        ]
        args = [participant_id, session_id, active, now_iso(), int(now.timestamp() * 1000), stage_id, *flat]
        status, joined = _JOIN(keys=keys, args=args)
        if status == "nostage":
            raise EmulatorError("the stage does not exist")
        if status == "revoked":
            raise EmulatorError(f"participant {participant_id} was disconnected from this stage; its token is revoked")
        if status == "connected":
            raise EmulatorError(f"participant {participant_id} is already connected")
        if status == "ok":
            return str(joined)
    raise EmulatorError("the stage's session kept changing while joining; try again")


def leave(region: str, stage_id: str, participant_id: str) -> str | None:
    """Disconnect; the last one out ends the session. Returns the session id, None if not connected."""
    stage = ns(region, "stage", stage_id)
    for _ in range(_SESSION_READS):
        session_id = get_redis().hget(stage, "activeSessionId")
        if not session_id:
            return None  # no session, so nobody is connected
        keys = [
            stage,
            ns(region, "stage", stage_id, "connected"),
            ns(region, "participant", session_id, participant_id),
            ns(region, "session", session_id),
        ]
        status, left = _LEAVE(keys=keys, args=[participant_id, session_id, now_iso()])
        if status != "changed":
            return str(left) or None
    raise EmulatorError("the stage's session kept changing while leaving; try again")


def revoke(region: str, stage_id: str, participant_id: str) -> None:
    get_redis().sadd(ns(region, "stage", stage_id, "revoked"), participant_id)


def connected_participant(region: str, record: dict[str, str], participant_id: str) -> dict[str, str] | None:
    session_id = record.get("activeSessionId")
    if not session_id or not get_redis().sismember(ns(region, "stage", record["id"], "connected"), participant_id):
        return None
    return get_participant(region, session_id, participant_id)


def get_participant(region: str, session_id: str, participant_id: str) -> dict[str, str] | None:
    return text_map(get_redis().hgetall(ns(region, "participant", session_id, participant_id))) or None


def update_participant(region: str, session_id: str, participant_id: str, **fields: str) -> None:
    get_redis().hset(ns(region, "participant", session_id, participant_id), items=_flat(fields))


def session_participants(region: str, session_id: str) -> list[dict[str, str]]:
    r = get_redis()
    pids = r.zrange(ns(region, "session", session_id, "participants"), 0, -1)
    pipe = r.pipeline(transaction=False)
    for pid in pids:
        pipe.hgetall(ns(region, "participant", session_id, str(pid)))
    return [text_map(rec) for rec in pipe.execute() if rec]


def stage_sessions(region: str, stage_id: str) -> list[dict[str, str]]:
    """Newest first, the order a debugging operator wants."""
    r = get_redis()
    pipe = r.pipeline(transaction=False)
    for session_id in r.zrevrange(ns(region, "stage", stage_id, "sessions"), 0, -1):
        pipe.hgetall(ns(region, "session", str(session_id)))
    return [text_map(rec) for rec in pipe.execute() if rec]


def get_session(region: str, stage_id: str, session_id: str) -> dict[str, str] | None:
    record = text_map(get_redis().hgetall(ns(region, "session", session_id)))
    return record if record and record.get("stageId") == stage_id else None


# --- participant replication ----------------------------------------------------------------
def replications(region: str, source_stage_id: str, participant_id: str) -> dict[str, dict[str, str]]:
    raw = text_map(get_redis().hgetall(ns(region, "replicas", source_stage_id, participant_id)))
    return {dest: json.loads(value) for dest, value in raw.items()}


def add_replication(region: str, source_id: str, participant_id: str, dest_id: str, info: dict[str, str]) -> None:
    marker = f"{source_id}|{participant_id}|{dest_id}"
    pipe = get_redis().pipeline()
    pipe.hset(ns(region, "replicas", source_id, participant_id), dest_id, json.dumps(info))
    pipe.sadd(ns(region, "stage", source_id, "replications"), marker)
    pipe.sadd(ns(region, "stage", dest_id, "replications"), marker)
    pipe.execute()


def remove_replication(region: str, source_id: str, participant_id: str, dest_id: str) -> None:
    marker = f"{source_id}|{participant_id}|{dest_id}"
    pipe = get_redis().pipeline()
    pipe.hdel(ns(region, "replicas", source_id, participant_id), dest_id)
    pipe.srem(ns(region, "stage", source_id, "replications"), marker)
    pipe.srem(ns(region, "stage", dest_id, "replications"), marker)
    pipe.execute()


# --- public keys ----------------------------------------------------------------------------
# KEYS: key index, key hash, fingerprint index, sequence. ARGV: quota, key id, fingerprint, fields.
_IMPORT_KEY = LuaScript(
    """
if redis.call('HEXISTS', KEYS[3], ARGV[3]) == 1 then return -1 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
local seq = redis.call('INCR', KEYS[4])
redis.call('ZADD', KEYS[1], seq, ARGV[2])
redis.call('HSET', KEYS[3], ARGV[3], ARGV[2])
redis.call('HSET', KEYS[2], unpack(ARGV, 4))
return seq
"""
)
PUBLIC_KEY_QUOTA = 3


def import_public_key(region: str, *, name: str, material: str, fingerprint: str, tags: dict) -> dict[str, str]:
    key_id = random_id()
    fields = {
        "id": key_id,
        "arn": public_key_arn(region, key_id),
        "name": name,
        "publicKeyMaterial": material,
        "fingerprint": fingerprint,
        "tags": json.dumps(tags),
    }
    flat = [item for pair in fields.items() for item in pair]
    keys = [ns(region, "keys"), ns(region, "key", key_id), ns(region, "keys", "fingerprints"), ns(region, "seq")]
    result = _IMPORT_KEY(keys=keys, args=[PUBLIC_KEY_QUOTA, key_id, fingerprint, *flat])
    if result == -1:
        raise AwsError("ConflictException", "A public key with this material is already imported")
    if result == 0:
        raise AwsError("ServiceQuotaExceededException", f"Limit of {PUBLIC_KEY_QUOTA} public keys per region exceeded")
    return fields


def get_public_key(arn: str) -> dict[str, str]:
    region, key_id = parse_arn(arn, "public-key")
    record = text_map(get_redis().hgetall(ns(region, "key", key_id)))
    if not record:
        raise AwsError("ResourceNotFoundException", f"Public key {arn} not found")
    return record


def list_public_keys(region: str) -> list[dict[str, str]]:
    r = get_redis()
    keys = r.zrange(ns(region, "keys"), 0, -1)
    return [rec for key_id in keys if (rec := text_map(r.hgetall(ns(region, "key", str(key_id)))))]


def delete_public_key(arn: str) -> None:
    record = get_public_key(arn)
    region = parse_arn(arn, "public-key")[0]
    pipe = get_redis().pipeline()
    pipe.zrem(ns(region, "keys"), record["id"])
    pipe.hdel(ns(region, "keys", "fingerprints"), record["fingerprint"])
    pipe.delete(ns(region, "key", record["id"]))
    pipe.execute()


# --- fault injection and reset --------------------------------------------------------------
# KEYS: the operation's fault hash. Returns {code, status} and spends one use, or nil.
_TAKE_FAULT = LuaScript(
    """
local left = tonumber(redis.call('HGET', KEYS[1], 'remaining') or '0')
if left <= 0 then return false end
local code, status = redis.call('HGET', KEYS[1], 'code'), redis.call('HGET', KEYS[1], 'status')
if left == 1 then redis.call('DEL', KEYS[1]) else redis.call('HINCRBY', KEYS[1], 'remaining', -1) end
return {code, status}
"""
)


def fault_key(operation: str) -> str:
    # Faults are global, not per region: a failure drill means "IVS is failing", wherever. A
    # script touches one fault key alone, so it needs no hash tag.
    return key("ivsemu", "fault", operation)


def add_fault(operation: str, code: str, *, times: int, status: int) -> None:
    get_redis().hset(fault_key(operation), mapping={"code": code, "status": status, "remaining": times})


def take_fault(operation: str) -> tuple[str, int] | None:
    found = _TAKE_FAULT(keys=[fault_key(operation)])
    return (str(found[0]), int(found[1])) if found else None


def reset() -> None:
    """Wipe every emulator key (all regions, faults, signing keys) and nothing else."""
    r = get_redis()
    # The regions' state (tagged, see `ns`) and the untagged rest: faults and signing keys.
    doomed = [found for pattern in (ns("*"), key("ivsemu", "*")) for found in r.scan_iter(match=pattern, count=500)]
    for start in range(0, len(doomed), 500):
        r.delete(*doomed[start : start + 500])

"""Self-signed and API-issued participant tokens: format, claims, and what a joining client accepts."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ivsproject.api.exceptions import TokenGenerationFailed
from stages import ivs
from stages.ivs import emulator
from stages.ivs.keys import generate_key_pair
from stages.ivs.participant_token import mint_token, new_participant_id, signing_key

CLAIMS = {
    "jti",
    "resource",
    "topic",
    "whip_url",
    "events_url",
    "user_id",
    "attributes",
    "capabilities",
    "version",
    "iat",
    "exp",
}
KEY_ARN = "arn:aws:ivs:ap-northeast-1:123456789012:public-key/AbCdEfGh1234"
STAGE_ARN = "arn:aws:ivs:ap-northeast-1:123456789012:stage/Stage0000001"


@pytest.fixture
def stage():
    return ivs.create_stage(name="tokens", tags={})


def _public_pem(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _self_signed(stage_arn, *, capabilities=("SUBSCRIBE",), ttl=600, now=None, key=None):
    private_pem, key_arn = key or signing_key()
    return mint_token(
        stage_arn=stage_arn,
        participant_id=new_participant_id(),
        user_id="viewer-1",
        capabilities=list(capabilities),
        ttl_seconds=ttl,
        attributes={"seat": "A1"},
        whip_url="https://global.whip.live-video.net",
        events_url="wss://global.events.live-video.net",
        private_key_pem=private_pem,
        key_arn=key_arn,
        now=now,
    )


def test_self_signed_token_verifies_with_the_public_key_and_carries_exactly_the_ivs_claims():
    private_pem, public_pem = generate_key_pair()
    now = datetime(2025, 10, 21, 10, 30, tzinfo=UTC)
    token = mint_token(
        stage_arn=STAGE_ARN,
        participant_id="Participant1",
        user_id="host-1",
        capabilities=["PUBLISH", "SUBSCRIBE"],
        ttl_seconds=14400,
        attributes={"role": "host"},
        whip_url="https://global.whip.live-video.net",
        events_url="wss://global.events.live-video.net",
        private_key_pem=private_pem,
        key_arn=KEY_ARN,
        now=now,
    )
    assert jwt.get_unverified_header(token.token) == {"alg": "ES384", "typ": "JWT", "kid": KEY_ARN}
    claims = jwt.decode(token.token, public_pem, algorithms=["ES384"], options={"verify_exp": False})
    assert set(claims) == CLAIMS
    assert claims == {
        "jti": "Participant1",
        "resource": STAGE_ARN,
        "topic": "Stage0000001",
        "whip_url": "https://global.whip.live-video.net",
        "events_url": "wss://global.events.live-video.net",
        "user_id": "host-1",
        "attributes": {"role": "host"},
        "capabilities": {"allow_publish": True, "allow_subscribe": True},
        "version": "1.0",
        "iat": int(now.timestamp()),
        "exp": int(now.timestamp()) + 14400,
    }
    assert token.participant_id == "Participant1"
    assert token.expires_at == now + timedelta(seconds=14400)
    assert token.expires_at.tzinfo is UTC


def test_capabilities_map_to_allow_flags():
    private_pem, public_pem = generate_key_pair()
    token = _self_signed(STAGE_ARN, capabilities=["SUBSCRIBE"], key=(private_pem, KEY_ARN))
    claims = jwt.decode(token.token, public_pem, algorithms=["ES384"])
    assert claims["capabilities"] == {"allow_publish": False, "allow_subscribe": True}


def test_tokens_signed_concurrently_from_many_threads_all_verify():
    """Web workers sign from many threads with one shared key object: every signature must hold."""
    private_pem, public_pem = generate_key_pair()
    public = serialization.load_pem_public_key(public_pem.encode())

    def sign(i: int) -> tuple[int, str]:
        minted = mint_token(
            stage_arn=STAGE_ARN,
            participant_id=f"Participant{i:03d}"[:12],
            user_id=f"viewer-{i}",
            capabilities=["SUBSCRIBE"],
            ttl_seconds=600,
            attributes={"role": "viewer"},
            whip_url=None,
            events_url=None,
            private_key_pem=private_pem,
            key_arn=KEY_ARN,
        )
        return i, minted.token

    with ThreadPoolExecutor(max_workers=8) as pool:
        tokens = list(pool.map(sign, range(400)))
    for i, token in tokens:
        claims = jwt.decode(token, public, algorithms=["ES384"])  # verified by cryptography's OpenSSL
        assert claims["user_id"] == f"viewer-{i}"
    assert len({token.rsplit(".", 1)[1] for _, token in tokens}) == 400  # a fresh nonce per signature


def test_a_private_key_on_another_curve_is_refused():
    other = ec.generate_private_key(ec.SECP256R1())
    pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with pytest.raises(TokenGenerationFailed):
        _self_signed(STAGE_ARN, key=(pem, KEY_ARN))


def test_new_participant_ids_look_like_ivs_ones():
    ids = {new_participant_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(re.fullmatch(r"[A-Za-z0-9]{12}", pid) for pid in ids)


def test_generated_key_pair_is_p384():
    private_pem, public_pem = generate_key_pair()
    public = serialization.load_pem_public_key(public_pem.encode())
    assert isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp384r1"
    assert _public_pem(private_pem) == public_pem


def test_api_issued_token_carries_the_same_claims_and_rounds_duration_up_to_minutes(stage):
    token = ivs.create_participant_token(
        stage_arn=stage.arn, user_id="host-1", capabilities=["PUBLISH"], duration_seconds=61, attributes={"a": "b"}
    )
    header = jwt.get_unverified_header(token.token)
    assert header["alg"] == "ES384" and header["typ"] == "JWT" and ":public-key/" in header["kid"]
    claims = jwt.decode(token.token, options={"verify_signature": False})
    assert set(claims) == CLAIMS
    assert claims["exp"] - claims["iat"] == 120  # 61 s -> 2 whole minutes, never shorter than asked
    assert claims["resource"] == stage.arn and claims["topic"] == ivs.stage_id_from_arn(stage.arn)
    assert claims["capabilities"] == {"allow_publish": True, "allow_subscribe": False}
    assert claims["whip_url"] == stage.whip_endpoint and claims["events_url"] == stage.events_endpoint
    assert token.participant_id == claims["jti"]
    assert token.expires_at.tzinfo is UTC
    assert token.expires_at == datetime.fromtimestamp(claims["exp"], UTC)


def test_participant_join_accepts_api_and_self_signed_tokens(stage):
    api_token = ivs.create_participant_token(
        stage_arn=stage.arn, user_id="host", capabilities=["PUBLISH"], duration_seconds=600, attributes={}
    )
    self_signed = _self_signed(stage.arn)
    assert emulator.participant_join(stage_arn=stage.arn, token=api_token.token) == api_token.participant_id
    assert emulator.participant_join(stage_arn=stage.arn, token=self_signed.token) == self_signed.participant_id
    session = ivs.get_stage(arn=stage.arn).active_session_id
    joined = ivs.list_participants(stage_arn=stage.arn, session_id=session)
    assert {p.user_id for p in joined} == {"host", "viewer-1"}
    assert {p.attributes.get("seat") for p in joined} == {None}  # summaries carry no attributes (as in IVS)


def test_participant_join_rejects_an_expired_token(stage):
    token = _self_signed(stage.arn, ttl=60, now=datetime.now(UTC) - timedelta(minutes=5))
    with pytest.raises(emulator.EmulatorError, match="expired"):
        emulator.participant_join(stage_arn=stage.arn, token=token.token)


def test_participant_join_rejects_a_token_for_another_stage(stage):
    other = ivs.create_stage(name="other", tags={})
    token = _self_signed(other.arn)
    with pytest.raises(emulator.EmulatorError, match="issued for stage"):
        emulator.participant_join(stage_arn=stage.arn, token=token.token)


def test_participant_join_rejects_a_key_ivs_does_not_know(stage):
    private_pem, _public_pem = generate_key_pair()
    token = _self_signed(stage.arn, key=(private_pem, KEY_ARN))
    with pytest.raises(emulator.EmulatorError, match="unknown key"):
        emulator.participant_join(stage_arn=stage.arn, token=token.token)


def test_participant_join_rejects_a_forged_signature(stage):
    private_pem, _ = generate_key_pair()
    _, known_arn = signing_key()
    token = _self_signed(stage.arn, key=(private_pem, known_arn))  # right kid, wrong private key
    with pytest.raises(emulator.EmulatorError, match="invalid token"):
        emulator.participant_join(stage_arn=stage.arn, token=token.token)


def test_configured_key_from_pem_text_or_file(settings, tmp_path):
    private_pem, _ = generate_key_pair()
    settings.IVS_PUBLIC_KEY_ARN = KEY_ARN
    settings.IVS_PRIVATE_KEY = private_pem.strip().replace("\n", "\\n")  # one-line .env form
    assert signing_key() == (private_pem.strip(), KEY_ARN)
    path = tmp_path / "ivs.pem"
    path.write_text(private_pem)
    settings.IVS_PRIVATE_KEY = str(path)
    assert signing_key() == (private_pem, KEY_ARN)


@pytest.mark.parametrize(
    ("private_key", "arn", "backend"),
    [
        ("", KEY_ARN, "emulator"),  # half a configuration
        ("/nonexistent/ivs.pem", KEY_ARN, "emulator"),
        ("-----BEGIN PRIVATE KEY-----\\nnot a key\\n-----END PRIVATE KEY-----", KEY_ARN, "aws"),
        ("", "", "aws"),  # real AWS never gets an invented key
    ],
)
def test_unusable_signing_configuration_is_token_generation_failed(settings, private_key, arn, backend):
    settings.IVS_PRIVATE_KEY, settings.IVS_PUBLIC_KEY_ARN, settings.IVS_BACKEND = private_key, arn, backend
    with pytest.raises(TokenGenerationFailed):
        signing_key()


def test_emulator_provisions_one_development_key_and_reuses_it():
    first = signing_key()
    assert signing_key() == first
    assert [k["arn"] for k in ivs.list_public_keys()] == [first[1]]


def test_development_key_is_provisioned_again_after_an_emulator_reset():
    _, old_arn = signing_key()
    emulator.reset()
    _, new_arn = signing_key()
    assert new_arn != old_arn
    assert [k["arn"] for k in ivs.list_public_keys()] == [new_arn]

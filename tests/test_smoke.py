def test_health_is_healthy(client, db):
    response = client.get("/health")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["success"] is True
    assert body["data"]["services"]["redis"] == "connected"

"""API test helpers: a key with chosen scopes, and requests through Django's test client with it."""

from __future__ import annotations

import json
import uuid

from django.test import Client
from django.utils import timezone

from api.models import ALL_SCOPES
from api.services import api_key_create
from tests.customers.factories import SYSTEM

PROBLEM = "application/problem+json"


def make_key(name: str = "telephony-platform", scopes=ALL_SCOPES) -> str:
    _, plain = api_key_create(name=name, scopes=scopes, actor=SYSTEM, at=timezone.now())
    return plain


class Api:
    """`api.post(path, body)` / `api.get(path)` with the key; `key=None` sends no Authorization header."""

    def __init__(self, key: str | None, client: Client | None = None):
        self.key = key
        self.client = client or Client()

    def _headers(self, extra: dict) -> dict:
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        headers.update(extra)
        return headers

    def post(self, path: str, body=None, *, key: str | None = "new", raw: bytes | str | None = None, headers=None):
        extra = dict(headers or {})
        if key == "new":
            extra["Idempotency-Key"] = uuid.uuid4().hex
        elif key is not None:
            extra["Idempotency-Key"] = key
        data = raw if raw is not None else json.dumps(body if body is not None else {})
        return self.client.post(f"/api/v1{path}", data=data, content_type="application/json",
                                headers=self._headers(extra))

    def get(self, path: str, params=None, headers=None):
        return self.client.get(f"/api/v1{path}", params or {}, headers=self._headers(dict(headers or {})))


def assert_problem(response, status: int, slug: str) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"] == PROBLEM, response["Content-Type"]
    body = response.json()
    assert body["type"].endswith(f"/problems/{slug}"), body
    assert body["status"] == status and body["title"] and body["detail"], body
    return body

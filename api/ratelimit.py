"""Requests per API key, a fixed window in Redis: `INCR api:rate:<key hash>:<window number>` (expiring with its
window). Over LEDGERDESK_API_RATE_LIMIT requests in a window of LEDGERDESK_API_RATE_WINDOW_SECONDS: 429 with
Retry-After (the seconds left in the window).

A fixed window rather than django-ratelimit: the API authenticates in django-ninja's auth callable, not in a
Django view a decorator wraps, and the limit is per key (known only after authentication); this is the one
INCR + EXPIRE round trip django-ratelimit would make through the cache. When Redis cannot be reached the
request goes through (logged): the limit protects the service, it is not a rule about money."""

from __future__ import annotations

import logging
import time

import redis
from django.conf import settings

from .problems import Problem

log = logging.getLogger(__name__)
_clients: dict[str, redis.Redis] = {}


def _redis() -> redis.Redis:
    url = settings.REDIS_URL
    if url not in _clients:
        _clients[url] = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
    return _clients[url]


def check(key_hash: str) -> None:
    """Count one request of the key; Problem("rate-limited") when it is over the limit."""
    limit, window = settings.LEDGERDESK_API_RATE_LIMIT, settings.LEDGERDESK_API_RATE_WINDOW_SECONDS
    now = time.time()
    number = int(now // window)
    name = f"api:rate:{key_hash[:24]}:{number}"  # the hash: unique for good, unlike a row id
    try:
        pipe = _redis().pipeline()
        pipe.incr(name)
        pipe.expire(name, window + 1)
        count = pipe.execute()[0]
    except redis.RedisError:
        log.warning("API rate limit not checked: Redis unreachable", exc_info=True)
        return
    if count > limit:
        retry_after = max(1, int((number + 1) * window - now + 0.999))
        raise Problem("rate-limited", f"More than {limit} requests in {window} seconds with this key. "
                                      f"Retry after {retry_after} seconds.", headers={"Retry-After": str(retry_after)})

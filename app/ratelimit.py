"""Fixed-window rate limits in Redis that fail open: an outage must not turn patients away."""
from __future__ import annotations

import logging
import time

import redis

from app.extensions import redis_client

log = logging.getLogger(__name__)


def hit(key: str, limit: int, window_seconds: int) -> bool:
    """Count one event under ``key``; False when the limit for this window is exceeded.

    When Redis is unreachable the event is allowed (and logged): losing a
    patient's feedback is worse than letting a burst through.
    """
    bucket = int(time.time() // window_seconds)
    name = f"rl:{key}:{bucket}"
    try:
        pipe = redis_client().pipeline()
        pipe.incr(name)
        pipe.expire(name, window_seconds + 5)
        count, _ = pipe.execute()
    except (redis.RedisError, OSError):
        log.warning("rate limit not checked: Redis unavailable")
        return True
    return int(count) <= limit

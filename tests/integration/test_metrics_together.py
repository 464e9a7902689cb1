"""Metrics recorded inside `sent_together` are added up in the process and reach Redis at the block's end as one
increment per field they touched (apps/common/redis_batch.py), with the same totals as one increment each."""

import redis

from apps.common import metrics, redis_batch


def test_a_blocks_observations_arrive_added_up_one_command_per_field(settings, batched_writes):
    client = redis.Redis.from_url(settings.REDIS_URL)
    attempts, latency = metrics._key("webhook_attempts"), metrics._key("webhook_attempt_latency")
    client.delete(attempts, latency)
    with redis_batch.sent_together():
        for _ in range(40):
            metrics.record_webhook_attempt("delivered", 0.003)
        for _ in range(10):
            metrics.record_webhook_attempt("retrying", 0.2)
        assert batched_writes == []  # nothing before the end

    # delivered, retrying; two latency buckets; the latency's count and sum
    assert [len(pipeline) for pipeline in batched_writes] == [6]
    assert {k.decode(): v.decode() for k, v in client.hgetall(attempts).items()} == {
        "delivered": "40",
        "retrying": "10",
    }
    histogram = {k.decode(): v.decode() for k, v in client.hgetall(latency).items()}
    assert (histogram["le:0.005"], histogram["le:0.25"], histogram["count"]) == ("40", "10", "50")
    assert abs(float(histogram["sum"]) - (40 * 0.003 + 10 * 0.2)) < 1e-9


def test_outside_a_block_each_observation_is_sent_at_once(settings):
    client = redis.Redis.from_url(settings.REDIS_URL)
    key = metrics._key("webhook_attempts")
    client.delete(key)

    metrics.record_webhook_attempt("failed", 0.1)

    assert client.hget(key, "failed") == b"1"

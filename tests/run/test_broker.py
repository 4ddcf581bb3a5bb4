"""Pointing the Celery app at another Redis moves its connections too."""

from polaretl.run.celery_app import app, configure


def test_reconfiguring_moves_the_broker_pool_and_the_result_backend(redis_url):
    base = redis_url.rsplit("/", 1)[0]
    configure(f"{base}/12")
    with app.producer_or_acquire() as producer:
        assert producer.connection.as_uri().endswith("/12")
    assert app.backend.url.endswith("/12")
    configure(f"{base}/13")  # before the fix, the pool and backend stayed on /12
    with app.producer_or_acquire() as producer:
        assert producer.connection.as_uri().endswith("/13")
    assert app.backend.url.endswith("/13")


def test_pointing_back_at_a_redis_used_before_gets_a_live_pool(redis_url):
    base = redis_url.rsplit("/", 1)[0]
    for db in (12, 13, 12):  # kombu kept the closed /12 pool in its registry
        configure(f"{base}/{db}")
        with app.producer_or_acquire() as producer:
            producer.connection.ensure_connection(max_retries=1)
            assert producer.connection.as_uri().endswith(f"/{db}")

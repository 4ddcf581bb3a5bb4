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

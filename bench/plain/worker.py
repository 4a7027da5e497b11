# The worker: connects ONCE at start to PostgreSQL, Redis and RabbitMQ, no
# retry; if any of them refuses, it exits 1 (no restart policy: it stays
# exited). Then it stays up, as a worker does.
import os, signal, sys, time
import pika, psycopg2, redis

try:
    c = psycopg2.connect(os.environ["DATABASE_URL"], connect_timeout=5).cursor()
    c.execute("SELECT 1")
    assert redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=5).ping()
    mq = pika.BlockingConnection(
        pika.URLParameters(os.environ["AMQP_URL"] + "?connection_attempts=1&socket_timeout=5"))
    mq.channel().queue_declare("jobs")
    mq.close()
except Exception as e:
    print("worker: FAILED %s: %s" % (type(e).__name__, e), flush=True)
    sys.exit(1)
print("worker: CONNECTED to postgres, redis and rabbitmq", flush=True)
# PID 1 gets no default SIGTERM action: stop at once on `down`.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
while True:
    time.sleep(3600)

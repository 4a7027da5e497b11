# One attempt per dependency, at start. Any failure: exit 1.
import os, socket, sys, time
import pika, psycopg2, redis
me = socket.gethostname()
try:
    c = psycopg2.connect(os.environ["DATABASE_URL"], connect_timeout=5).cursor()
    c.execute("SELECT current_user")
    who = c.fetchone()[0]
    assert redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=5).ping()
    mq = pika.BlockingConnection(pika.URLParameters(os.environ["AMQP_URL"] + "?connection_attempts=1&socket_timeout=5"))
    mq.channel().queue_declare("probe-" + me)
    mq.close()
except Exception as e:
    print("FAILED %s: %s" % (type(e).__name__, e), flush=True)
    sys.exit(1)
print("CONNECTED to postgres as %s, redis and rabbitmq" % who, flush=True)
time.sleep(100000)

# coturn from Debian 12's package (4.6.1), configured from deploy/turnserver.conf
# and the .env values (docker-compose.yml). Nothing but Debian packages.
FROM debian:12
RUN apt-get update && apt-get install -y --no-install-recommends coturn \
    && rm -rf /var/lib/apt/lists/*
COPY deploy/turnserver.conf /etc/coturn/turnserver.conf.in
COPY deploy/render.sh /usr/local/bin/render-config
CMD ["sh", "-c", "render-config /etc/coturn/turnserver.conf.in > /tmp/turnserver.conf && exec turnserver -c /tmp/turnserver.conf --pidfile /tmp/turnserver.pid --userdb /tmp/turndb"]

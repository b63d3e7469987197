# Caddy from Debian 12's package (2.6.2), configured from deploy/Caddyfile
# and the .env values (docker-compose.yml, profile "caddy").
FROM debian:12
RUN apt-get update && apt-get install -y --no-install-recommends caddy ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY deploy/Caddyfile /etc/caddy/Caddyfile.in
COPY deploy/render.sh /usr/local/bin/render-config
# certificates, keys and the ACME account: the caddy-data volume
ENV XDG_DATA_HOME=/data XDG_CONFIG_HOME=/config
CMD ["sh", "-c", "render-config /etc/caddy/Caddyfile.in > /tmp/Caddyfile && exec caddy run --config /tmp/Caddyfile --adapter caddyfile"]

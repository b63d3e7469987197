# Container image of palabre (Debian 12, packages from Debian only).
FROM debian:12
RUN apt-get update && apt-get install -y --no-install-recommends make git ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/palabre
COPY . .
RUN scripts/install-deps.sh build && make
EXPOSE 8080
# Loopback by default: a reverse proxy on the host (network_mode: host) is the way in.
# To listen on the network, mount a config with an [access] section (docs/operations.md).
CMD ["build/palabre", "--listen", "127.0.0.1:8080", "--data-dir", "/var/lib/palabre"]

# Container image of palabre (Debian 12, packages from Debian only).
FROM debian:12
RUN apt-get update && apt-get install -y --no-install-recommends make git ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/palabre
COPY . .
RUN scripts/install-deps.sh build && make
EXPOSE 8080
CMD ["build/palabre", "--listen", "0.0.0.0:8080", "--data-dir", "/var/lib/palabre"]

# flespi-exporter image: a static binary on a distroless base, run as non-root.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# VERSION names the build (docker build --build-arg VERSION=$(git describe --tags --always));
# without it, the binary says the commit it was built from, when .git is in the context.
ARG VERSION=
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=auto -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/flespi-exporter ./cmd/flespi-exporter
# The data directory (device registry, dead letters), owned by the user the exporter runs as,
# so that a named volume mounted there starts writable.
RUN mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/flespi-exporter /flespi-exporter
COPY config.toml /etc/flespi-exporter/config.toml
COPY --from=build --chown=nonroot:nonroot /out/data /var/lib/flespi-exporter
USER nonroot:nonroot
# 9883: the stream listener, for flespi. 9884: the internal listener (/metrics,
# status page, /-/ready, /-/reload), for Prometheus and the health check; do
# not publish it to the internet.
ENV FLESPI_EXPORTER_INTERNAL_LISTEN=:9884 FLESPI_EXPORTER_DATA_DIR=/var/lib/flespi-exporter
EXPOSE 9883 9884
# No shell or curl in the image: the binary checks its own readiness.
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/flespi-exporter", "health", "-url", "http://127.0.0.1:9884/-/ready"]
ENTRYPOINT ["/flespi-exporter"]
CMD ["serve", "-config", "/etc/flespi-exporter/config.toml"]
